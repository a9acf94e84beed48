import Foundation
import SQLiteNIO

/// What `relay user|tenant|grant|revoke` change. Each change is one statement, so it is
/// atomic without a transaction; when it touched nothing, a second look says why
/// (unknown user, unknown tenant, or nothing to do) for the one-line message.
extension SQLiteRelayStore {
    public func addUser(_ name: String, password: String) async throws {
        try StoreNames.checkUser(name)
        try StoreNames.checkPassword(password)
        let hash = try await hash(password)
        let added = try await rows("""
            INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)
            ON CONFLICT(name) DO NOTHING RETURNING id
            """, [.text(name), .text(hash), .integer(Self.now)])
        guard !added.isEmpty else { throw StoreError(.duplicate, "user '\(name)' already exists") }
    }

    public func setPassword(_ name: String, password: String) async throws {
        try StoreNames.checkUser(name)
        try StoreNames.checkPassword(password)
        let hash = try await hash(password)
        let changed = try await rows("UPDATE users SET password_hash = ? WHERE name = ? RETURNING id",
                                     [.text(hash), .text(name)])
        guard !changed.isEmpty else { throw StoreError(.unknown, "unknown user '\(name)'") }
    }

    public func removeUser(_ name: String) async throws {
        try StoreNames.checkUser(name)
        let removed = try await rows("DELETE FROM users WHERE name = ? RETURNING id", [.text(name)])
        guard !removed.isEmpty else { throw StoreError(.unknown, "unknown user '\(name)'") }
    }

    public func users() async throws -> [String] {
        try await rows("SELECT name FROM users ORDER BY name").compactMap { $0.column("name")?.string }
    }

    public func addTenant(_ tenant: Tenant) async throws {
        try StoreNames.checkTenant(tenant.id)
        try StoreNames.checkDisplayName(tenant.name)
        let added = try await rows("""
            INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING RETURNING id
            """, [.text(tenant.id), .text(tenant.name), .integer(Self.now)])
        guard !added.isEmpty else { throw StoreError(.duplicate, "tenant '\(tenant.id)' already exists") }
    }

    public func removeTenant(_ id: String) async throws {
        try StoreNames.checkTenant(id)
        let removed = try await rows("DELETE FROM tenants WHERE id = ? RETURNING id", [.text(id)])
        guard !removed.isEmpty else { throw StoreError(.unknown, "unknown tenant '\(id)'") }
    }

    public func allTenants() async throws -> [Tenant] {
        try await rows("SELECT id, name FROM tenants ORDER BY id").compactMap(Self.tenant(from:))
    }

    public func grant(user: String, tenant: String) async throws {
        try StoreNames.checkUser(user)
        try StoreNames.checkTenant(tenant)
        // The WHERE clause is needed: it tells SQLite's parser the upsert is not a join's ON.
        let added = try await rows("""
            INSERT INTO grants (user_id, tenant_id)
            SELECT u.id, t.id FROM users u, tenants t WHERE u.name = ? AND t.id = ?
            ON CONFLICT DO NOTHING RETURNING user_id
            """, [.text(user), .text(tenant)])
        guard added.isEmpty else { return }
        try await requireBoth(user: user, tenant: tenant)
        throw StoreError(.duplicate, "user '\(user)' already has access to tenant '\(tenant)'")
    }

    public func revoke(user: String, tenant: String) async throws {
        try StoreNames.checkUser(user)
        try StoreNames.checkTenant(tenant)
        let removed = try await rows("""
            DELETE FROM grants WHERE user_id = (SELECT id FROM users WHERE name = ?) AND tenant_id = ?
            RETURNING user_id
            """, [.text(user), .text(tenant)])
        guard removed.isEmpty else { return }
        try await requireBoth(user: user, tenant: tenant)
        throw StoreError(.unknown, "user '\(user)' has no access to tenant '\(tenant)'")
    }

    private func requireBoth(user: String, tenant: String) async throws {
        if try await rows("SELECT 1 FROM users WHERE name = ?", [.text(user)]).isEmpty {
            throw StoreError(.unknown, "unknown user '\(user)'")
        }
        if try await self.tenant(id: tenant) == nil {
            throw StoreError(.unknown, "unknown tenant '\(tenant)'")
        }
    }

    private func hash(_ password: String) async throws -> String {
        try await hashing.runIfActive { [hasher] in try hasher.hash(password) }
    }

    static var now: SQLiteInt64 { SQLiteInt64(Date().timeIntervalSince1970.rounded(.down)) }
}
