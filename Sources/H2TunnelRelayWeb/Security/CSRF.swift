import Foundation
import Hummingbird

/// Cross-site request forgery defence for the site's forms (OWASP "double submit").
///
/// Signed out (the sign-in form): a random token in the `__Host-h2t-csrf` cookie and
/// the same token in the form's hidden `csrf` field. Another site can make a browser
/// post a form, but can neither read nor set a `__Host-` cookie (RFC 6265bis §4.1.3.2:
/// Secure, Path=/, no Domain), so it cannot make the two agree.
/// Signed in (sign-out): the token is the one kept in the server-side session.
/// Tokens are compared in constant time, so response timing does not leak a prefix.
enum CSRF {
    static let cookieName = "__Host-h2t-csrf"
    static let field = "csrf"

    /// 256 random bits, base64url without padding (43 characters).
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A token this site could have made: the cookie's value is reused only if so.
    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F
        }
    }

    /// True when both are present, non-empty and equal; time depends only on the length.
    static func matches(_ expected: String?, _ presented: String?) -> Bool {
        guard let expected, let presented, !expected.isEmpty else { return false }
        let a = Array(expected.utf8), b = Array(presented.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// The sign-in form's cookie: a browser-session cookie, HttpOnly (the page never
    /// needs to read it: the token is in the form), SameSite=Strict.
    static func cookie(_ token: String) -> Cookie {
        Cookie(name: cookieName, value: token, path: "/", secure: true, httpOnly: true, sameSite: .strict)
    }
}
