import Foundation
import JWTKit

/// What the agent's session cookie says: who signed in, until when.
struct SessionClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim

    var user: String { sub.value }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and checks session cookies (JWT, HS256) with a key made at start and never
/// written anywhere: a restart signs everyone out, which a ticket from the relay undoes
/// in one click, and no secret needs storing on the premises.
struct SessionKeys: Sendable {
    static let cookieName = "__Host-h2t-session"

    private let keys: JWTKeyCollection
    let lifetime: TimeInterval

    init(lifetime: TimeInterval) async {
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    func issue(user: String, now: Date = Date()) async throws -> String {
        try await keys.sign(SessionClaims(sub: SubjectClaim(value: user),
                                          exp: ExpirationClaim(value: now.addingTimeInterval(lifetime))))
    }

    /// The signed-in user, or nil for a missing, forged, tampered or expired cookie.
    func user(from token: String) async -> String? {
        try? await keys.verify(token, as: SessionClaims.self).user
    }

    /// RFC 6265bis §4.1.3.2: `__Host-` makes the browser insist on Secure, Path=/ and no
    /// Domain, so the cookie is this tenant host's alone.
    func setCookie(_ token: String) -> String {
        "\(Self.cookieName)=\(token); Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=\(Int(lifetime))"
    }

    var clearCookie: String {
        "\(Self.cookieName)=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
    }
}
