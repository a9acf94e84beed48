import Foundation
import HTTPTypes
import NIOHTTP1
import Testing
@testable import H2TunnelAgent

@Suite struct TicketReplayCacheTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test func secondRedemptionIsAReplay() {
        let cache = TicketReplayCache(capacity: 4)
        #expect(cache.redeem("a", expires: now + 60, now: now) == .fresh)
        #expect(cache.redeem("a", expires: now + 60, now: now + 1) == .replayed)
        #expect(cache.redeem("b", expires: now + 60, now: now + 1) == .fresh)
    }

    /// Full of live ids it refuses rather than forgets (a forgotten id could be replayed);
    /// once they expire, room is made.
    @Test func fullRefusesUntilIdsExpire() {
        let cache = TicketReplayCache(capacity: 2)
        #expect(cache.redeem("a", expires: now + 60, now: now) == .fresh)
        #expect(cache.redeem("b", expires: now + 60, now: now) == .fresh)
        #expect(cache.redeem("c", expires: now + 60, now: now + 1) == .full)
        #expect(cache.redeem("a", expires: now + 60, now: now + 1) == .replayed)
        #expect(cache.redeem("c", expires: now + 120, now: now + 61) == .fresh)
    }
}

@Suite struct FrontResponderTests {
    @Test(arguments: ["/", "/a/b?c=d", "/x#y"])
    func localPathsAccepted(_ path: String) { #expect(FrontResponder.localPath(path) == path) }

    @Test(arguments: ["", "a", "//evil.example", "/\\evil.example", "https://evil.example/", "/a\r\nSet-Cookie: x"])
    func otherPathsRefused(_ path: String) { #expect(FrontResponder.localPath(path) == nil) }

    @Test func hostWithoutPort() {
        #expect(FrontResponder.hostWithoutPort("Acme.Tunnel.localhost:8443") == "acme.tunnel.localhost")
        #expect(FrontResponder.hostWithoutPort("[::1]:443") == "[::1]")
        #expect(FrontResponder.hostWithoutPort("") == "")
    }
}

@Suite struct ProxyHeadersTests {
    @Test func requestHeadersForTheApp() {
        var fields = HTTPFields()
        fields[.connection] = "keep-alive, X-Private"
        fields.append(HTTPField(name: HTTPField.Name("X-Private")!, value: "1"))
        fields.append(HTTPField(name: HTTPField.Name("X-Forwarded-User")!, value: "admin"))
        fields.append(HTTPField(name: HTTPField.Name("X-Forwarded-Host")!, value: "evil"))
        fields.append(HTTPField(name: HTTPField.Name("Forwarded")!, value: "for=1.2.3.4"))
        fields.append(HTTPField(name: .te, value: "trailers"))
        fields.append(HTTPField(name: .cookie, value: "a=1"))
        fields.append(HTTPField(name: .cookie, value: "\(SessionKeys.cookieName)=secret"))
        fields.append(HTTPField(name: .cookie, value: "b=2"))
        fields.append(HTTPField(name: .accept, value: "text/html"))
        let headers = ProxyHeaders.toApp(fields, authority: "acme.example:8443", browserIP: "192.0.2.7", user: "alice")
        #expect(headers["host"] == ["acme.example:8443"])
        #expect(headers["cookie"] == ["a=1; b=2"])
        #expect(headers["x-forwarded-user"] == ["alice"])
        #expect(headers["x-forwarded-for"] == ["192.0.2.7"])
        #expect(headers["x-forwarded-proto"] == ["https"])
        #expect(headers["accept"] == ["text/html"])
        for gone in ["connection", "x-private", "x-forwarded-host", "forwarded", "te"] {
            #expect(headers[gone].isEmpty, "\(gone) must not reach the app")
        }
    }

    @Test func responseHeadersForTheBrowser() {
        let headers = HTTPHeaders([("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"),
                                   ("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain"), ("Set-Cookie", "a=1")])
        let fields = ProxyHeaders.toBrowser(headers)
        #expect(fields[.contentType] == "text/plain")
        #expect(fields[.setCookie] == "a=1")
        #expect(fields.count == 2)
    }

    @Test func browserAddressFromForwarded() {
        #expect(ProxyHeaders.browserIP(fromForwarded: "for=\"192.0.2.7:5000\"") == "192.0.2.7")
        #expect(ProxyHeaders.browserIP(fromForwarded: "for=\"[2001:db8::1]:5000\"") == "2001:db8::1")
        #expect(ProxyHeaders.browserIP(fromForwarded: "") == "unknown")
    }
}
