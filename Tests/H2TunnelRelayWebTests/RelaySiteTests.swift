import Foundation
import H2TunnelTickets
import Hummingbird
import HummingbirdTesting
import Testing
@testable import H2TunnelRelayWeb

/// The relay site's routes against a real SQLite store: each refusal with its defined
/// response (issue 13, acceptance b), and the ticket `/open` issues.
@Suite struct RelaySiteTests {
    @Test func withoutSessionEveryPageSendsToSignIn() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let home = try await client.get("/", &jar)
            #expect(home.status == .seeOther)
            #expect(home.headers[.location] == "/signin")
            let open = try await client.get("/open/acme?r=/ledger?x=1", &jar)
            #expect(open.status == .seeOther)
            #expect(open.headers[.location] == "/signin?next=/open/acme%3Fr%3D/ledger%3Fx%3D1")
        }
    }

    @Test func signInFormCarriesCSRFTokenInCookieAndField() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let page = try await client.get("/signin?next=/open/acme", &jar)
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("id=\"signin\""))
            #expect(html.contains("id=\"signin-submit\""))
            #expect(html.contains("value=\"/open/acme\""))
            let setCookie = page.headers[values: .setCookie].joined(separator: "\n")
            #expect(setCookie.contains("__Host-h2t-csrf="))
            #expect(setCookie.contains("Secure") && setCookie.contains("HttpOnly") && setCookie.contains("Path=/"))
            let token = try #require(client.csrf(in: page))
            #expect(CSRF.isWellFormed(token))
            #expect(jar.values[CSRF.cookieName] == token)
        }
    }

    @Test func signInPostWithoutOrWithWrongCSRFIsForbidden() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let page = try await client.get("/signin", &jar)
            let token = try #require(client.csrf(in: page))
            let none = try await client.post("/signin", form: ["username": "alice", "password": SiteHarness.password], &jar)
            #expect(none.status == .forbidden)
            let wrong = try await client.post("/signin", form: [
                "username": "alice", "password": SiteHarness.password, "csrf": String(token.reversed())], &jar)
            #expect(wrong.status == .forbidden)
            // A field without the cookie (another site's forged post) is refused too.
            var noCookie = CookieJar()
            let forged = try await client.post("/signin", form: [
                "username": "alice", "password": SiteHarness.password, "csrf": token], &noCookie)
            #expect(forged.status == .forbidden)
            #expect(forged.headers[values: .setCookie].allSatisfy { !$0.hasPrefix(SiteRouter.sessionCookie) })
        }
    }

    @Test func wrongPasswordIs401WithMessage() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let token = try #require(client.csrf(in: try await client.get("/signin", &jar)))
            let response = try await client.post("/signin", form: [
                "username": "alice", "password": "wrong", "csrf": token], &jar)
            #expect(response.status == .unauthorized)
            let html = String(buffer: response.body)
            #expect(html.contains("id=\"error\""))
            #expect(html.contains("value=\"alice\""))
            #expect(jar.values[SiteRouter.sessionCookie] == nil)
            let unknown = try await client.post("/signin", form: [
                "username": "nobody", "password": "x", "csrf": token], &jar)
            #expect(unknown.status == .unauthorized)
            let forgedLogLine = try await client.post("/signin", form: [
                "username": "alice\nsigned in user=root", "password": "x", "csrf": token], &jar)
            #expect(forgedLogLine.status == .unauthorized)
        }
    }

    @Test func repeatedFailuresForOneUserAre429() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let token = try #require(client.csrf(in: try await client.get("/signin", &jar)))
            for _ in 0..<5 {
                let response = try await client.post("/signin", form: ["username": "alice", "password": "guess", "csrf": token], &jar)
                #expect(response.status == .unauthorized)
            }
            // Now even the right password waits: the limit is checked before the password.
            let limited = try await client.post("/signin", form: [
                "username": "alice", "password": SiteHarness.password, "csrf": token], &jar)
            #expect(limited.status == .tooManyRequests)
            let retry = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
            #expect(retry > 800 && retry <= 900)
            #expect(String(buffer: limited.body).contains("id=\"error\""))
            // Another user from the same address is not limited by alice's failures.
            let bob = try await client.post("/signin", form: [
                "username": "bob", "password": SiteHarness.password, "csrf": token], &jar)
            #expect(bob.status == .seeOther)
        }
    }

    @Test func repeatedFailuresFromOneAddressAre429() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let token = try #require(client.csrf(in: try await client.get("/signin", &jar)))
            for index in 0..<20 {
                let response = try await client.post("/signin", form: ["username": "user\(index)", "password": "guess", "csrf": token], &jar)
                #expect(response.status == .unauthorized)
            }
            let limited = try await client.post("/signin", form: [
                "username": "bob", "password": SiteHarness.password, "csrf": token], &jar)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
        }
    }

    @Test func signInSetsSessionCookieAndGoesToNext() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            let token = try #require(client.csrf(in: try await client.get("/signin", &jar)))
            let response = try await client.post("/signin", form: [
                "username": "alice", "password": SiteHarness.password, "csrf": token, "next": "/open/acme?r=/books"], &jar)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/open/acme?r=/books")
            let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("\(SiteRouter.sessionCookie)=") })
            for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] { #expect(cookie.contains(attribute)) }
            #expect(!cookie.contains("Domain="))
        }
    }

    @Test func nextMustBeALocalPath() async throws {
        try await SiteHarness.run { client in
            for next in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
                var jar = CookieJar()
                let token = try #require(client.csrf(in: try await client.get("/signin", &jar)))
                let response = try await client.post("/signin", form: [
                    "username": "alice", "password": SiteHarness.password, "csrf": token, "next": next], &jar)
                #expect(response.headers[.location] == "/", "next=\(next)")
            }
        }
    }

    @Test func companiesPageListsGrantsWithLiveState() async throws {
        try await SiteHarness.run { client in
            var jar = try await client.signIn()
            let page = try await client.get("/", &jar)
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("id=\"companies\""))
            #expect(html.contains("<li class=\"company\" data-tenant=\"acme\" data-status=\"online\">"))
            #expect(html.contains("<li class=\"company\" data-tenant=\"globex\" data-status=\"offline\">"))
            #expect(html.contains("href=\"/open/acme\""))
            #expect(html.contains("Globex &amp; Co"))          // escaped
            #expect(html.contains("Last seen 2 hours ago"))
            #expect(!html.contains("initech"))                 // not granted
            #expect(html.contains("id=\"signout\"") && html.contains("id=\"signout-submit\""))
            var bobJar = try await client.signIn("bob")
            let empty = String(buffer: try await client.get("/", &bobJar).body)
            #expect(empty.contains("No company has been shared with you yet"))
        }
    }

    @Test func openRefusesUnknownUngrantedAndOfflineCompanies() async throws {
        try await SiteHarness.run { client in
            var jar = try await client.signIn()
            #expect(try await client.get("/open/nosuch", &jar).status == .notFound)
            #expect(try await client.get("/open/Not..A-Label", &jar).status == .notFound)
            #expect(try await client.get("/open/initech", &jar).status == .forbidden)
            let offline = try await client.get("/open/globex", &jar)
            #expect(offline.status == .serviceUnavailable)
            #expect(String(buffer: offline.body).contains("offline"))
        }
    }

    @Test func openIssuesATicketForTheTenantHost() async throws {
        try await SiteHarness.run { client in
            var jar = try await client.signIn()
            let response = try await client.get("/open/acme?r=/books?year=2026", &jar)
            #expect(response.status == .seeOther)
            let location = try #require(response.headers[.location])
            let url = try #require(URLComponents(string: location))
            #expect(url.scheme == "https")
            #expect(url.host == "acme.tunnel.localhost")
            #expect(url.port == 8443)
            #expect(url.path == Ticket.redeemPath)
            #expect(url.queryItems?.first { $0.name == Ticket.returnParameter }?.value == "/books?year=2026")
            let token = try #require(url.queryItems?.first { $0.name == Ticket.parameter }?.value)
            let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
            let claims = try await verifier.verify(token, host: "acme.tunnel.localhost")
            #expect(claims.user == "alice")
            #expect(claims.expires.timeIntervalSince(claims.iat.value) <= 60)
            #expect(claims.expires.timeIntervalSinceNow <= 60)
            // A return path to another host is dropped for `/`.
            let evil = try await client.get("/open/acme?r=//evil.example/", &jar)
            #expect(evil.headers[.location]?.hasSuffix("&r=/") == true)
        }
    }

    @Test func publicPort443IsLeftOutOfURLs() async throws {
        try await SiteHarness.run(publicPort: 443) { client in
            var jar = try await client.signIn()
            let location = try #require(try await client.get("/open/acme", &jar).headers[.location])
            #expect(location.hasPrefix("https://acme.tunnel.localhost/.h2tunnel/ticket?t="))
        }
    }

    @Test func signOutNeedsTheSessionsCSRFToken() async throws {
        try await SiteHarness.run { client in
            var jar = try await client.signIn()
            let page = try await client.get("/", &jar)
            let token = try #require(client.csrf(in: page))
            #expect(try await client.post("/signout", form: [:], &jar).status == .forbidden)
            // One character changed, to one the token does not start with: "x" + the rest
            // was the token itself whenever it began with "x" (1 run in 64).
            let forged = (token.hasPrefix("x") ? "y" : "x") + token.dropFirst()
            #expect(try await client.post("/signout", form: ["csrf": forged], &jar).status == .forbidden)
            #expect(try await client.get("/", &jar).status == .ok)   // still signed in
            let out = try await client.post("/signout", form: ["csrf": token], &jar)
            #expect(out.status == .seeOther)
            #expect(out.headers[.location] == "/signin")
            let after = try await client.get("/", &jar)
            #expect(after.status == .seeOther)
            #expect(after.headers[.location] == "/signin")
        }
    }

    @Test func tamperedSessionCookieIsNoSession() async throws {
        try await SiteHarness.run { client in
            let response = try await client.execute(uri: "/", method: .get,
                                                    headers: [.cookie: "\(SiteRouter.sessionCookie)=AAAAforged"])
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/signin")
        }
    }

    @Test func everyResponseCarriesTheSecurityHeaders() async throws {
        try await SiteHarness.run { client in
            var jar = CookieJar()
            for uri in ["/signin", "/", "/static/site.css", "/no/such/page"] {
                let response = try await client.get(uri, &jar)
                #expect(response.headers[.strictTransportSecurity] == "max-age=31536000", "\(uri)")
                let csp = try #require(response.headers[.contentSecurityPolicy])
                #expect(csp.contains("frame-ancestors 'none'"))
                #expect(csp.contains("form-action 'self' https://*.tunnel.localhost:8443"))
                #expect(!csp.contains("unsafe-inline"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.referrerPolicy] == "no-referrer")
                #expect(response.headers[.cacheControl] == "no-store")
            }
            #expect(try await client.get("/no/such/page", &jar).status == .notFound)
            let css = try await client.get("/static/site.css", &jar)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func oversizedFormIs413() async throws {
        try await SiteHarness.run { client in
            let body = ByteBuffer(string: "username=" + String(repeating: "a", count: 20_000))
            let response = try await client.execute(uri: "/signin", method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded"], body: body)
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentSecurityPolicy] != nil)
        }
    }

    @Test func notConfiguredSiteSaysSo() async throws {
        let router = SiteRouter.notConfigured(settings: SiteSettings(hostname: "relay.localhost", tenantDomain: "tunnel.localhost", publicPort: nil))
        try await Application(router: router).test(.router) { client in
            for uri in ["/", "/signin", "/open/acme"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Sign-in is not configured"))
            }
        }
    }

    @Test func templatesParse() {
        #expect(Page.templatesParsed)
    }
}
