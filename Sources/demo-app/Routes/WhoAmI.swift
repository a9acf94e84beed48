/// What `GET /api/whoami` reports: the forwarding headers as the app received
/// them, so tests can see what the agent added and what it stripped. A header
/// sent more than once shows as one comma-joined list, so a browser-sent copy
/// that slipped past the agent would be visible.
struct WhoAmI: Encodable {
    let user: String?
    let forwardedFor: String?
    let forwardedProto: String?
    let forwarded: String?
    let cookie: String?

    init(_ request: DemoRequest) {
        user = request.header("x-forwarded-user")
        forwardedFor = request.header("x-forwarded-for")
        forwardedProto = request.header("x-forwarded-proto")
        forwarded = request.header("forwarded")
        cookie = request.header("cookie")
    }

    private enum CodingKeys: String, CodingKey {
        case user = "x-forwarded-user", forwardedFor = "x-forwarded-for"
        case forwardedProto = "x-forwarded-proto", forwarded, cookie
    }

    /// Absent headers are `null`, not missing keys: callers test for both.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(user, forKey: .user)
        try container.encode(forwardedFor, forKey: .forwardedFor)
        try container.encode(forwardedProto, forKey: .forwardedProto)
        try container.encode(forwarded, forKey: .forwarded)
        try container.encode(cookie, forKey: .cookie)
    }
}
