import Foundation
import Testing
@testable import H2TunnelStore

/// A store in a fresh directory with users alice and bob, removed afterwards.
private func withSessionStore(_ body: (String, SQLiteRelayStore) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("h2t-sessions-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("relay.db").path
    let store = try await SQLiteRelayStore.open(path: path, hasher: PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1)))
    do {
        try await store.addUser("alice", password: "pw-alice")
        try await store.addUser("bob", password: "pw-bob")
        try await body(path, store)
        try await store.close()
    } catch {
        try? await store.close()
        throw error
    }
}

private func session(_ user: String, _ text: String = "data", in seconds: TimeInterval = 3600) -> StoredSession {
    StoredSession(user: user, value: Data(text.utf8), expires: Date().addingTimeInterval(seconds))
}

/// A key as hummingbird-auth makes one: a prefix and 32 random bytes, base64.
private func newKey() -> String {
    "relay-site." + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
}

@Suite struct SessionStoreTests {
    @Test func putThenFetchGivesTheSessionBack() async throws {
        try await withSessionStore { _, store in
            let key = newKey()
            #expect(try await store.putSession(key: key, session("alice", "one"), replace: false))
            let found = try #require(try await store.session(key: key))
            #expect(found.user == "alice")
            #expect(found.value == Data("one".utf8))
            #expect(abs(found.expires.timeIntervalSinceNow - 3600) < 5)
            #expect(try await store.session(key: newKey()) == nil)
        }
    }

    @Test func createKeepsALiveSessionAndReplaceOverwritesIt() async throws {
        try await withSessionStore { _, store in
            let key = newKey()
            #expect(try await store.putSession(key: key, session("alice", "one"), replace: false))
            let refused = try await store.putSession(key: key, session("alice", "two"), replace: false)
            #expect(!refused)
            #expect(try await store.session(key: key)?.value == Data("one".utf8))
            #expect(try await store.putSession(key: key, session("alice", "three"), replace: true))
            #expect(try await store.session(key: key)?.value == Data("three".utf8))
            #expect(try await store.sessionCount() == 1)
        }
    }

    @Test func anExpiredSessionIsNotFoundAndIsPruned() async throws {
        try await withSessionStore { _, store in
            let key = newKey()
            #expect(try await store.putSession(key: key, session("alice", in: 1.2), replace: false))
            #expect(try await store.session(key: key) != nil)
            // Stored with whole-second expiry: 2.5 s later it has ended for certain.
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await store.session(key: key) == nil)
            #expect(try await store.sessionCount() == 1)
            // Any write drops expired rows; so does an explicit prune.
            #expect(try await store.putSession(key: newKey(), session("bob"), replace: false))
            #expect(try await store.sessionCount() == 1)
            #expect(try await store.pruneSessions() == 0)
        }
    }

    @Test func explicitPruneDropsOnlyExpiredRows() async throws {
        try await withSessionStore { _, store in
            #expect(try await store.putSession(key: newKey(), session("alice", in: 1.2), replace: false))
            #expect(try await store.putSession(key: newKey(), session("bob"), replace: false))
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await store.pruneSessions() == 1)
            #expect(try await store.sessionCount() == 1)
        }
    }

    @Test func anAlreadyExpiredSessionIsNotStored() async throws {
        try await withSessionStore { _, store in
            let refused = try await store.putSession(key: newKey(), session("alice", in: -10), replace: false)
            #expect(!refused)
            #expect(try await store.sessionCount() == 0)
        }
    }

    @Test func aSessionOfAnUnknownUserIsNotStored() async throws {
        try await withSessionStore { _, store in
            let refused = try await store.putSession(key: newKey(), session("mallory"), replace: true)
            #expect(!refused)
            #expect(try await store.sessionCount() == 0)
        }
    }

    @Test func removeSessionEndsThatOneOnly() async throws {
        try await withSessionStore { _, store in
            let (one, two) = (newKey(), newKey())
            #expect(try await store.putSession(key: one, session("alice"), replace: false))
            #expect(try await store.putSession(key: two, session("alice"), replace: false))
            try await store.removeSession(key: one)
            #expect(try await store.session(key: one) == nil)
            #expect(try await store.session(key: two) != nil)
        }
    }

    @Test func removingAUserEndsTheirSessionsOnly() async throws {
        try await withSessionStore { _, store in
            let (alice, bob) = (newKey(), newKey())
            #expect(try await store.putSession(key: alice, session("alice"), replace: false))
            #expect(try await store.putSession(key: bob, session("bob"), replace: false))
            try await store.removeUser("alice")
            #expect(try await store.session(key: alice) == nil)
            #expect(try await store.session(key: bob) != nil)
            #expect(try await store.sessionCount() == 1)
        }
    }

    @Test func aNewPasswordEndsTheUsersSessionsOnly() async throws {
        try await withSessionStore { _, store in
            let (alice, bob) = (newKey(), newKey())
            #expect(try await store.putSession(key: alice, session("alice"), replace: false))
            #expect(try await store.putSession(key: bob, session("bob"), replace: false))
            try await store.setPassword("alice", password: "new-pw")
            #expect(try await store.session(key: alice) == nil)
            #expect(try await store.session(key: bob) != nil)
            // A session made after the change lives.
            let after = newKey()
            #expect(try await store.putSession(key: after, session("alice"), replace: false))
            #expect(try await store.session(key: after) != nil)
        }
    }

    @Test func removeSessionsOfAUserCountsThem() async throws {
        try await withSessionStore { _, store in
            for _ in 0..<3 {
                let stored = try await store.putSession(key: newKey(), session("alice"), replace: false)
                #expect(stored)
            }
            #expect(try await store.putSession(key: newKey(), session("bob"), replace: false))
            #expect(try await store.removeSessions(user: "alice") == 3)
            #expect(try await store.removeSessions(user: "nobody") == 0)
            #expect(try await store.sessionCount() == 1)
        }
    }

    @Test func aUserKeepsAtMostMaxPerUserSessionsNewestFirst() async throws {
        try await withSessionStore { _, store in
            var keys: [String] = []
            for _ in 0..<(StoredSession.maxPerUser + 5) {
                let key = newKey()
                keys.append(key)
                let stored = try await store.putSession(key: key, session("alice"), replace: false)
                #expect(stored)
            }
            #expect(try await store.sessionCount() == StoredSession.maxPerUser)
            #expect(try await store.session(key: keys[0]) == nil)
            #expect(try await store.session(key: keys[4]) == nil)
            #expect(try await store.session(key: keys[5]) != nil)
            #expect(try await store.session(key: keys[keys.count - 1]) != nil)
        }
    }

    @Test func oversizedSessionDataIsRefused() async throws {
        try await withSessionStore { _, store in
            let big = StoredSession(user: "alice", value: Data(count: StoredSession.maxValueBytes + 1),
                                    expires: Date().addingTimeInterval(60))
            await #expect(throws: StoreError.self) { try await store.putSession(key: newKey(), big, replace: false) }
        }
    }

    /// A leaked store file (with its WAL) holds only SHA-256 of each key, never the key.
    @Test func onlyTheKeysHashIsStored() async throws {
        try await withSessionStore { path, store in
            let key = newKey()
            #expect(try await store.putSession(key: key, session("alice"), replace: false))
            let hash = try StoredSession.keyHash(key)
            #expect(hash.count == 32)
            let rows = try await store.rows("SELECT key_hash FROM sessions")
            guard case .blob(let stored) = rows.first?.column("key_hash") else {
                Issue.record("no key_hash blob")
                return
            }
            #expect(Array(stored.readableBytesView) == hash)
            var bytes = Data()
            for file in [path, path + "-wal"] { bytes.append((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()) }
            #expect(!bytes.isEmpty)
            #expect(bytes.range(of: Data(key.utf8)) == nil)
            #expect(bytes.range(of: Data(key.dropFirst("relay-site.".count).utf8)) == nil)
            #expect(bytes.range(of: Data(hash)) != nil)
        }
    }

    /// SHA-256 test vector (FIPS 180-2 appendix B.1): the hash is the standard one.
    @Test func keyHashIsSHA256() throws {
        let hex = try StoredSession.keyHash("abc").map { String(format: "%02x", $0) }.joined()
        #expect(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// A schema-1 file (before sessions) is upgraded in place, keeping its users.
    @Test func aVersionOneFileGainsTheSessionsTable() async throws {
        try await withSessionStore { path, store in
            try await store.rows("DROP TRIGGER sessions_end_on_new_password")
            try await store.rows("DROP TABLE sessions")
            try await store.rows("PRAGMA user_version = 1")
            try await store.close()
            let again = try await SQLiteRelayStore.open(path: path, hasher: PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1)))
            #expect(try await again.schemaVersion() == 2)
            #expect(try await again.users() == ["alice", "bob"])
            let key = newKey()
            #expect(try await again.putSession(key: key, session("alice"), replace: false))
            try await again.setPassword("alice", password: "changed")
            #expect(try await again.session(key: key) == nil)
            try await again.close()
        }
    }
}
