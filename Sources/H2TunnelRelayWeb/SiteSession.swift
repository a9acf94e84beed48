/// What a signed-in browser's session holds (server side; the cookie is only its id).
struct SiteSession: Codable, Sendable {
    var user: String
    /// The CSRF token of the signed-in forms (sign-out): tied to this session, so a
    /// token from another session (or none) is refused.
    var csrf: String
}

extension SiteSession: SessionOwner {
    var sessionOwner: String { user }
}
