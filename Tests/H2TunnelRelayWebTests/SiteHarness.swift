import Foundation
import H2TunnelStore
import H2TunnelTickets
import Hummingbird
import HummingbirdTesting
import Logging
@testable import H2TunnelRelayWeb

/// Which tenants have an agent now, set by the test (the relay's `AgentRegistry` plays
/// this part in the binary; the e2e tests use it).
struct FixedPresence: TenantPresence {
    var online: Set<String>
    var seen: [String: Date] = [:]
    func isOnline(_ tenant: String) -> Bool { online.contains(tenant) }
    func lastSeen(_ tenant: String) -> Date? { online.contains(tenant) ? nil : seen[tenant] }
}

/// A real SQLite store in a fresh directory with alice (acme, globex granted), bob
/// (nothing granted) and three tenants: acme (online), globex (offline), initech.
struct SiteHarness {
    static let password = "correct horse battery staple"
    static let tenantDomain = "tunnel.localhost"

    /// Runs `body` against the site's router, then closes and deletes the store.
    static func run(limiter: SignInRateLimiter = SignInRateLimiter(), publicPort: Int? = 8443,
                    _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await runWithStore(limiter: limiter, publicPort: publicPort) { client, _ in try await body(client) }
    }

    /// Runs `body` against the site's router with the store at hand (what `relay user|grant|…`
    /// would change from another process), then closes and deletes the store.
    static func runWithStore(limiter: SignInRateLimiter = SignInRateLimiter(), publicPort: Int? = 8443,
                             _ body: @Sendable (any TestClientProtocol, SQLiteRelayStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("h2t-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteRelayStore.open(path: directory.appendingPathComponent("relay.db").path,
                                                    hasher: PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1)))
        do {
            try await store.addUser("alice", password: password)
            try await store.addUser("bob", password: password)
            try await store.addTenant(Tenant(id: "acme", name: "Acme Corporation"))
            try await store.addTenant(Tenant(id: "globex", name: "Globex & Co"))
            try await store.addTenant(Tenant(id: "initech", name: "Initech"))
            try await store.grant(user: "alice", tenant: "acme")
            try await store.grant(user: "alice", tenant: "globex")
            let router = try await self.router(store: store, limiter: limiter, publicPort: publicPort)
            try await Application(router: router).test(.router) { client in try await body(client, store) }
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// The site's router on `store`, sessions in the store as in the relay (a second
    /// router on the same store plays a restarted relay, or another relay of a fleet).
    static func router(store: any RelayStore, limiter: SignInRateLimiter = SignInRateLimiter(),
                       publicPort: Int? = 8443) async throws -> Router<SiteRequestContext> {
        let presence = FixedPresence(online: ["acme"], seen: ["globex": Date().addingTimeInterval(-7200)])
        let settings = SiteSettings(hostname: "relay.localhost", tenantDomain: tenantDomain, publicPort: publicPort)
        return SiteRouter.build(
            store: store, issuer: try await TicketIssuer(privateKeyPEM: TestKeys.signingKey), presence: presence,
            settings: settings, limiter: limiter,
            sessions: StoreSessionDriver(store: store, maxLifetime: settings.sessionLifetime,
                                         logger: Logger(label: "test-sessions")))
    }
}

/// A browser's cookie jar, enough for these tests: name=value pairs from Set-Cookie.
struct CookieJar {
    private(set) var values: [String: String] = [:]

    mutating func take(_ response: TestResponse) {
        for line in response.headers[values: .setCookie] {
            guard let pair = line.split(separator: ";").first, let eq = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<eq]).trimmingCharacters(in: .whitespaces)
            let value = String(pair[pair.index(after: eq)...])
            if line.contains("Max-Age=0") || value.isEmpty { values[name] = nil } else { values[name] = value }
        }
    }

    var header: HTTPFields {
        values.isEmpty ? [:] : [.cookie: values.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ")]
    }
}

extension TestClientProtocol {
    func get(_ uri: String, _ jar: inout CookieJar) async throws -> TestResponse {
        let response = try await execute(uri: uri, method: .get, headers: jar.header)
        jar.take(response)
        return response
    }

    func post(_ uri: String, form: [String: String], _ jar: inout CookieJar) async throws -> TestResponse {
        var headers = jar.header
        headers[.contentType] = "application/x-www-form-urlencoded"
        let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            .joined(separator: "&")
        let response = try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        jar.take(response)
        return response
    }

    /// The CSRF token of the page's form (its hidden `csrf` field).
    func csrf(in response: TestResponse) -> String? {
        let html = String(buffer: response.body)
        guard let field = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[field.upperBound...].prefix { $0 != "\"" })
    }

    /// Signs `user` in; returns the jar with the session cookie.
    func signIn(_ user: String = "alice", password: String = SiteHarness.password) async throws -> CookieJar {
        var jar = CookieJar()
        let page = try await get("/signin", &jar)
        let token = csrf(in: page) ?? ""
        let response = try await post("/signin", form: ["username": user, "password": password, "csrf": token, "next": "/"], &jar)
        guard response.status == .seeOther else { throw SignInFailed(status: response.status.code) }
        return jar
    }
}

struct SignInFailed: Error { var status: Int }
