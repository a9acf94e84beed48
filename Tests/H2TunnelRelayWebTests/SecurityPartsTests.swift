import Foundation
import NIOCore
import Testing
@testable import H2TunnelRelayWeb
import H2TunnelCore

@Suite struct SignInRateLimiterTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func userLimitSlidesWithTheWindow() {
        let limiter = SignInRateLimiter(perUser: .init(limit: 3, window: 60), perAddress: .init(limit: 100, window: 60))
        for second in 0..<3 {
            #expect(limiter.retryAfter(user: "Alice", address: "a", now: start + Double(second)) == nil)
            limiter.recordFailure(user: "alice", address: "a", now: start + Double(second))
        }
        // Case-insensitive, and from any address.
        #expect(limiter.retryAfter(user: "ALICE", address: "b", now: start + 10) == 50)
        // The first failure leaves the window at 60 s: one more try allowed.
        #expect(limiter.retryAfter(user: "alice", address: "b", now: start + 60) == nil)
    }

    @Test func addressLimitCountsEveryUser() {
        let limiter = SignInRateLimiter(perUser: .init(limit: 100, window: 60), perAddress: .init(limit: 2, window: 60))
        limiter.recordFailure(user: "a", address: "192.0.2.1", now: start)
        limiter.recordFailure(user: "b", address: "192.0.2.1", now: start)
        #expect(limiter.retryAfter(user: "c", address: "192.0.2.1", now: start + 1) == 59)
        #expect(limiter.retryAfter(user: "c", address: "192.0.2.2", now: start + 1) == nil)
    }

    @Test func addressKeysGroupIPv6ByPrefix() throws {
        #expect(AddressGroup.key(try SocketAddress(ipAddress: "192.0.2.7", port: 1)) == "192.0.2.7")
        let a = AddressGroup.key(try SocketAddress(ipAddress: "2001:db8:1:2:aaaa::1", port: 1))
        let b = AddressGroup.key(try SocketAddress(ipAddress: "2001:db8:1:2:ffff:1:2:3", port: 1))
        #expect(a == "2001:db8:1:2::/64" && a == b)
        #expect(AddressGroup.key(try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1)) != a)
        #expect(AddressGroup.key(try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 1)) == "192.0.2.7")
        #expect(AddressGroup.key(nil) == "unknown")
    }

    @Test func trackedKeysAreBounded() {
        let limiter = SignInRateLimiter(perUser: .init(limit: 5, window: 60), perAddress: .init(limit: 5, window: 60), maxKeys: 100)
        for index in 0..<10_000 {
            limiter.recordFailure(user: "user\(index)", address: "addr\(index)", now: start + Double(index) / 1000)
        }
        let tracked = limiter.trackedKeys
        #expect(tracked.users <= 100 && tracked.addresses <= 100)
        // The newest key is still tracked.
        for _ in 0..<4 { limiter.recordFailure(user: "user9999", address: "x", now: start + 10) }
        #expect(limiter.retryAfter(user: "user9999", address: "y", now: start + 10) != nil)
    }
}

@Suite struct CSRFTests {
    @Test func tokensAreRandomAndWellFormed() {
        let a = CSRF.newToken(), b = CSRF.newToken()
        #expect(a != b)
        #expect(CSRF.isWellFormed(a) && CSRF.isWellFormed(b))
        #expect(!CSRF.isWellFormed("short"))
        #expect(!CSRF.isWellFormed(String(repeating: "+", count: 43)))
    }

    @Test func matchingNeedsBothEqualAndPresent() {
        let token = CSRF.newToken()
        #expect(CSRF.matches(token, token))
        #expect(!CSRF.matches(token, nil))
        #expect(!CSRF.matches(nil, token))
        #expect(!CSRF.matches("", ""))
        #expect(!CSRF.matches(token, String(token.dropLast()) + "A") || token.hasSuffix("A"))
        #expect(!CSRF.matches(token, token + "x"))
    }
}

@Suite struct LocalPathTests {
    @Test func onlyLocalPathsPass() {
        for good in ["/", "/open/acme", "/a?b=c&d=%2F"] { #expect(LocalPath.validated(good) == good) }
        for bad in [nil, "", "//evil", "/\\evil", "https://evil/", "evil", "/a b", "/a\u{7F}", "/\u{e9}",
                    "/" + String(repeating: "a", count: 3000)] {
            #expect(LocalPath.validated(bad) == nil, "\(String(describing: bad))")
        }
    }

    @Test func queryEncodingKeepsSlashesAndEscapesTheRest() {
        #expect(LocalPath.queryEncoded("/a?b=c&d") == "/a%3Fb%3Dc%26d")
    }
}

@Suite struct CompaniesPageTests {
    @Test func lastSeenReadsNaturally() {
        #expect(CompaniesPage.ago(5) == "just now")
        #expect(CompaniesPage.ago(60) == "1 minute ago")
        #expect(CompaniesPage.ago(3 * 3600 + 5) == "3 hours ago")
        #expect(CompaniesPage.ago(2 * 86_400) == "2 days ago")
        let now = Date()
        #expect(CompaniesPage.company(id: "a", name: "A", online: true, lastSeen: nil, now: now).seen == "Connected now")
        #expect(CompaniesPage.company(id: "a", name: "A", online: false, lastSeen: nil, now: now).seen
                == "Not connected since the relay started")
    }
}

@Suite struct HTTPDateTests {
    @Test func imfFixdate() {
        // RFC 9110 §5.6.7's example.
        #expect(HTTPDate.format(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
