import Foundation
import Testing
@testable import H2TunnelStore

/// A store in a fresh directory, removed afterwards.
private func withStore<T>(_ body: (String, SQLiteRelayStore) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("h2t-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("relay.db").path
    let store = try await SQLiteRelayStore.open(path: path, hasher: cheap)
    do {
        let result = try await body(path, store)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}

private let cheap = PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1))

private func expectStoreError(_ kind: StoreError.Kind, _ message: String,
                              _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        try await body()
        Issue.record("no error, expected \(kind): \(message)", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error.kind == kind, sourceLocation: sourceLocation)
        #expect(error.description == message, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SQLiteRelayStoreTests {
    @Test func firstOpenCreatesAPrivateWALFileAtTheLatestVersion() async throws {
        try await withStore { path, store in
            #expect(try await store.schemaVersion() == StoreMigration.latest)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(try await store.rows("PRAGMA journal_mode").first?.column("journal_mode")?.string == "wal")
            #expect(try await store.rows("PRAGMA foreign_keys").first?.column("foreign_keys")?.integer == 1)
        }
    }

    @Test func reopeningKeepsVersionAndData() async throws {
        try await withStore { path, store in
            try await store.addUser("bob", password: "pw")
            try await store.addTenant(Tenant(id: "acme", name: "Acme"))
            try await store.grant(user: "bob", tenant: "acme")
            try await store.close()
            for _ in 0..<2 {
                let again = try await SQLiteRelayStore.open(path: path, hasher: cheap)
                #expect(try await again.schemaVersion() == StoreMigration.latest)
                #expect(try await again.users() == ["bob"])
                #expect(try await again.tenants(grantedTo: "bob") == [Tenant(id: "acme", name: "Acme")])
                #expect(try await again.verifyPassword(user: "bob", password: "pw"))
                try await again.close()
            }
        }
    }

    /// Two processes may open a new file at once (the relay and the CLI): each step once.
    @Test func concurrentFirstOpensMigrateOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("h2t-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("relay.db").path
        let stores = (0..<6).map { _ in SQLiteRelayStore(path: path, hasher: cheap) }
        let results = await withTaskGroup(of: Result<Void, any Error>.self) { group in
            for store in stores {
                group.addTask {
                    do { return .success(try await store.ping()) } catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // None gave up on the lock (that would throw "the file stays locked").
        for result in results { #expect(throws: Never.self) { try result.get() } }
        for store in stores {
            #expect(try await store.schemaVersion() == StoreMigration.latest)
            try await store.close()
        }
    }

    @Test func aNewerSchemaIsRefused() async throws {
        try await withStore { path, store in
            try await store.rows("PRAGMA user_version = \(StoreMigration.latest + 1)")
            try await store.close()
            await expectStoreError(.unavailable,
                                   "store \(path) has schema version \(StoreMigration.latest + 1), newer than this relay's \(StoreMigration.latest)") {
                _ = try await SQLiteRelayStore.open(path: path, hasher: cheap)
            }
        }
    }

    @Test func anUnopenablePathIsUnavailable() async throws {
        do {
            _ = try await SQLiteRelayStore.open(path: "/nonexistent-dir/relay.db", hasher: cheap)
            Issue.record("opened")
        } catch let error as StoreError {
            #expect(error.kind == .unavailable)
            #expect(error.description.contains("/nonexistent-dir/relay.db"))
        }
    }

    @Test func aClosedStoreIsUnavailable() async throws {
        try await withStore { path, store in
            try await store.close()
            await expectStoreError(.unavailable, "store \(path) is closed") { _ = try await store.users() }
        }
    }

    @Test func users() async throws {
        try await withStore { _, store in
            try await store.addUser("bob", password: "pw1")
            try await store.addUser("alice", password: "pw2")
            #expect(try await store.users() == ["alice", "bob"])
            await expectStoreError(.duplicate, "user 'bob' already exists") { try await store.addUser("bob", password: "x") }
            await expectStoreError(.invalid, "invalid user name 'Bob!': 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit") {
                try await store.addUser("Bob!", password: "x")
            }
            await expectStoreError(.invalid, "empty password") { try await store.addUser("carol", password: "") }
            await expectStoreError(.unknown, "unknown user 'carol'") { try await store.setPassword("carol", password: "x") }
            await expectStoreError(.unknown, "unknown user 'carol'") { try await store.removeUser("carol") }

            #expect(try await store.verifyPassword(user: "bob", password: "pw1"))
            #expect(try await !store.verifyPassword(user: "bob", password: "pw2"))
            #expect(try await !store.verifyPassword(user: "nobody", password: "pw1"))
            #expect(try await !store.verifyPassword(user: "Not A Name", password: "pw1"))
            try await store.setPassword("bob", password: "new")
            #expect(try await !store.verifyPassword(user: "bob", password: "pw1"))
            #expect(try await store.verifyPassword(user: "bob", password: "new"))
            try await store.removeUser("bob")
            #expect(try await store.users() == ["alice"])
            #expect(try await !store.verifyPassword(user: "bob", password: "new"))
        }
    }

    @Test func tenants() async throws {
        try await withStore { _, store in
            try await store.addTenant(Tenant(id: "globex", name: "Globex Inc."))
            try await store.addTenant(Tenant(id: "acme", name: "Acme Corp"))
            #expect(try await store.allTenants() == [Tenant(id: "acme", name: "Acme Corp"), Tenant(id: "globex", name: "Globex Inc.")])
            #expect(try await store.tenantIDs() == ["acme", "globex"])
            #expect(try await store.tenant(id: "acme") == Tenant(id: "acme", name: "Acme Corp"))
            #expect(try await store.tenant(id: "initech") == nil)
            await expectStoreError(.duplicate, "tenant 'acme' already exists") {
                try await store.addTenant(Tenant(id: "acme", name: "Other"))
            }
            await expectStoreError(.invalid, "invalid tenant id 'Acme': a DNS label, 1-63 of a-z 0-9 -, not starting or ending with -") {
                try await store.addTenant(Tenant(id: "Acme", name: "Acme"))
            }
            await expectStoreError(.invalid, "invalid tenant name 'a\\tb': 1-200 characters, no control characters, no leading or trailing spaces") {
                try await store.addTenant(Tenant(id: "ab", name: "a\tb"))
            }
            await expectStoreError(.unknown, "unknown tenant 'initech'") { try await store.removeTenant("initech") }
            try await store.removeTenant("globex")
            #expect(try await store.tenantIDs() == ["acme"])
        }
    }

    @Test func grants() async throws {
        try await withStore { _, store in
            try await store.addUser("bob", password: "pw")
            try await store.addTenant(Tenant(id: "acme", name: "Acme"))
            try await store.addTenant(Tenant(id: "globex", name: "Globex"))
            try await store.grant(user: "bob", tenant: "globex")
            try await store.grant(user: "bob", tenant: "acme")
            #expect(try await store.tenants(grantedTo: "bob").map(\.id) == ["acme", "globex"])
            #expect(try await store.isGranted(user: "bob", tenant: "acme"))
            #expect(try await !store.isGranted(user: "alice", tenant: "acme"))
            #expect(try await store.tenants(grantedTo: "alice") == [])
            await expectStoreError(.duplicate, "user 'bob' already has access to tenant 'acme'") {
                try await store.grant(user: "bob", tenant: "acme")
            }
            await expectStoreError(.unknown, "unknown user 'alice'") { try await store.grant(user: "alice", tenant: "acme") }
            await expectStoreError(.unknown, "unknown tenant 'initech'") { try await store.grant(user: "bob", tenant: "initech") }
            await expectStoreError(.invalid, "invalid tenant id '-x': a DNS label, 1-63 of a-z 0-9 -, not starting or ending with -") {
                try await store.grant(user: "bob", tenant: "-x")
            }
            try await store.revoke(user: "bob", tenant: "acme")
            #expect(try await !store.isGranted(user: "bob", tenant: "acme"))
            await expectStoreError(.unknown, "user 'bob' has no access to tenant 'acme'") {
                try await store.revoke(user: "bob", tenant: "acme")
            }
            await expectStoreError(.unknown, "unknown user 'alice'") { try await store.revoke(user: "alice", tenant: "acme") }
            await expectStoreError(.unknown, "unknown tenant 'initech'") { try await store.revoke(user: "bob", tenant: "initech") }
        }
    }

    @Test func removingAUserOrATenantRemovesTheirGrants() async throws {
        try await withStore { _, store in
            try await store.addUser("bob", password: "pw")
            try await store.addUser("alice", password: "pw")
            try await store.addTenant(Tenant(id: "acme", name: "Acme"))
            try await store.addTenant(Tenant(id: "globex", name: "Globex"))
            for user in ["bob", "alice"] {
                for tenant in ["acme", "globex"] { try await store.grant(user: user, tenant: tenant) }
            }
            try await store.removeUser("bob")
            try await store.addUser("bob", password: "pw")
            #expect(try await store.tenants(grantedTo: "bob") == [])
            try await store.removeTenant("acme")
            #expect(try await store.tenants(grantedTo: "alice").map(\.id) == ["globex"])
            #expect(try await store.rows("SELECT count(*) AS n FROM grants").first?.column("n")?.integer == 1)
        }
    }

    @Test func ticketsAreRedeemedOnceAndExpiredIdsPruned() async throws {
        try await withStore { _, store in
            let expires = Date().addingTimeInterval(60)
            #expect(try await store.redeemTicket(id: "t1", expires: expires))
            #expect(try await !store.redeemTicket(id: "t1", expires: expires))
            #expect(try await store.redeemTicket(id: "t2", expires: expires))
            // An already expired ticket is never recorded, so never accepted.
            #expect(try await !store.redeemTicket(id: "t3", expires: Date().addingTimeInterval(-5)))
            // Rows whose time has passed go on the next insert.
            let past = Int64(Date().timeIntervalSince1970) - 100
            try await store.rows("INSERT INTO redeemed_tickets (id, expires) VALUES ('old1', \(past)), ('old2', \(past))")
            #expect(try await store.redeemedTicketCount() == 4)
            #expect(try await store.redeemTicket(id: "t4", expires: expires))
            #expect(try await store.redeemedTicketCount() == 3)
            await expectStoreError(.invalid, "invalid ticket id") { _ = try await store.redeemTicket(id: "", expires: expires) }
        }
    }
}
