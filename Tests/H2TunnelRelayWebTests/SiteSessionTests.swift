import Foundation
@testable import H2TunnelStore
import Hummingbird
import HummingbirdTesting
import Testing
@testable import H2TunnelRelayWeb

/// Sessions kept in the store: they outlive the relay process, end with their user or
/// the user's password, and only the id's hash is stored. Grants are read per request.
@Suite struct SiteSessionTests {
    @Test func aSessionOutlivesTheRouterThatMadeIt() async throws {
        try await SiteHarness.runWithStore { client, store in
            let jar = try await client.signIn()
            // A new router and driver on the same store: a restarted relay, or another of a fleet.
            let restarted = try await SiteHarness.router(store: store)
            try await Application(router: restarted).test(.router) { again in
                var jar = jar
                let home = try await again.get("/", &jar)
                #expect(home.status == .ok)
                #expect(String(buffer: home.body).contains("data-tenant=\"acme\""))
            }
        }
    }

    @Test func aNewPasswordSendsTheOldSessionToSignIn() async throws {
        try await SiteHarness.runWithStore { client, store in
            var alice = try await client.signIn("alice")
            var bob = try await client.signIn("bob")
            #expect(try await client.get("/", &alice).status == .ok)
            try await store.setPassword("alice", password: "a brand new password")
            let home = try await client.get("/", &alice)
            #expect(home.status == .seeOther)
            #expect(home.headers[.location] == "/signin")
            let open = try await client.get("/open/acme", &alice)
            #expect(open.status == .seeOther)
            #expect(open.headers[.location]?.hasPrefix("/signin?next=") == true)
            #expect(try await client.get("/", &bob).status == .ok)
            // The new password signs in again.
            var again = try await client.signIn("alice", password: "a brand new password")
            #expect(try await client.get("/", &again).status == .ok)
        }
    }

    @Test func removingTheUserSendsTheirSessionToSignIn() async throws {
        try await SiteHarness.runWithStore { client, store in
            var alice = try await client.signIn("alice")
            var bob = try await client.signIn("bob")
            try await store.removeUser("alice")
            let home = try await client.get("/", &alice)
            #expect(home.status == .seeOther)
            #expect(home.headers[.location] == "/signin")
            #expect(try await client.get("/", &bob).status == .ok)
        }
    }

    @Test func revokingAGrantStopsOpenAtOnce() async throws {
        try await SiteHarness.runWithStore { client, store in
            var jar = try await client.signIn()
            #expect(try await client.get("/open/acme", &jar).status == .seeOther)
            try await store.revoke(user: "alice", tenant: "acme")
            #expect(try await client.get("/open/acme", &jar).status == .forbidden)
            let home = try await client.get("/", &jar)
            #expect(home.status == .ok)
            #expect(!String(buffer: home.body).contains("data-tenant=\"acme\""))
        }
    }

    /// The cookie carries 256 random bits; the store row is keyed by their SHA-256.
    @Test func theCookieIdIsRandomAndOnlyItsHashIsStored() async throws {
        try await SiteHarness.runWithStore { client, store in
            let first = try await client.signIn()
            let second = try await client.signIn()
            let id = try #require(first.values[SiteRouter.sessionCookie])
            #expect(id != second.values[SiteRouter.sessionCookie])
            #expect(Data(base64Encoded: id)?.count == 32)
            let key = "relay-site." + id
            #expect(try await store.session(key: key)?.user == "alice")
            let hashes = try await store.rows("SELECT key_hash FROM sessions").compactMap { row -> [UInt8]? in
                guard case .blob(let buffer) = row.column("key_hash") else { return nil }
                return Array(buffer.readableBytesView)
            }
            #expect(hashes.count == 2)
            #expect(hashes.contains(try StoredSession.keyHash(key)))
            #expect(!hashes.contains(Array(key.utf8)))
        }
    }

    @Test func signOutDeletesTheStoredSession() async throws {
        try await SiteHarness.runWithStore { client, store in
            var jar = try await client.signIn()
            #expect(try await store.sessionCount() == 1)
            let token = try #require(client.csrf(in: try await client.get("/", &jar)))
            #expect(try await client.post("/signout", form: ["csrf": token], &jar).status == .seeOther)
            #expect(try await store.sessionCount() == 0)
        }
    }

    /// The row's expiry is the site's session lifetime (bounded), not forever.
    @Test func aStoredSessionEndsAfterTheSessionLifetime() async throws {
        try await SiteHarness.runWithStore { client, store in
            let jar = try await client.signIn()
            let id = try #require(jar.values[SiteRouter.sessionCookie])
            let stored = try #require(try await store.session(key: "relay-site." + id))
            let lifetime = Double(SiteSettings(hostname: "h", tenantDomain: "d", publicPort: nil).sessionLifetime.components.seconds)
            #expect(abs(stored.expires.timeIntervalSinceNow - lifetime) < 5)
        }
    }
}
