internal import COpenSSL
import Foundation

/// A signed-in browser's session as the store keeps it: the site's encoded session data,
/// the user it belongs to (so removing the user or changing their password ends it), and
/// when it ends. The store keys it by `StoredSession.keyHash(_:)` of the cookie's secret
/// id, never by the id itself.
public struct StoredSession: Sendable, Equatable {
    public var user: String
    public var value: Data
    public var expires: Date

    public init(user: String, value: Data, expires: Date) {
        self.user = user
        self.value = value
        self.expires = expires
    }

    /// Encoded session data larger than this is refused: the site stores a user name and
    /// a token, and a row must not grow without bound.
    public static let maxValueBytes = 4096
    /// A user's live sessions beyond this many are dropped, oldest first, so the table
    /// stays bounded: only a correct password creates one, and each user has this many at most.
    public static let maxPerUser = 32

    /// SHA-256 of a session key (OpenSSL's `EVP_Digest`): what a store keeps and looks a
    /// session up by. The key is 256 random bits, so a plain hash (no salt, no stretching)
    /// cannot be reversed, and the lookup stays one primary-key probe.
    public static func keyHash(_ key: String) throws -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(key.utf8)
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        guard ok == 1, length == 32 else { throw StoreError(.unavailable, "cannot hash a session key (OpenSSL)") }
        return digest
    }
}
