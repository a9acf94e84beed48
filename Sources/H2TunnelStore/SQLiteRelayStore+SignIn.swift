import Foundation
import SQLiteNIO

/// What the relay's site and router read.
extension SQLiteRelayStore {
    public func verifyPassword(user: String, password: String) async throws -> Bool {
        var stored: String? = nil
        if StoreNames.isUserName(user), password.utf8.count <= StoreNames.maxPasswordBytes {
            stored = try await rows("SELECT password_hash FROM users WHERE name = ?", [.text(user)])
                .first?.column("password_hash")?.string
        }
        // scrypt takes ~0.1 s of CPU: on its own threads, never on an event loop or Swift's
        // cooperative pool.
        return try await hashing.runIfActive { [hasher, stored] in
            guard let stored else {
                hasher.dummyVerify(password)
                return false
            }
            return hasher.verify(password, against: stored)
        }
    }

    public func tenants(grantedTo user: String) async throws -> [Tenant] {
        try await rows("""
            SELECT t.id, t.name FROM tenants t
            JOIN grants g ON g.tenant_id = t.id JOIN users u ON u.id = g.user_id
            WHERE u.name = ? ORDER BY t.name, t.id
            """, [.text(user)]).compactMap(Self.tenant(from:))
    }

    public func isGranted(user: String, tenant: String) async throws -> Bool {
        try await !rows("""
            SELECT 1 FROM grants g JOIN users u ON u.id = g.user_id WHERE u.name = ? AND g.tenant_id = ?
            """, [.text(user), .text(tenant)]).isEmpty
    }

    public func tenant(id: String) async throws -> Tenant? {
        try await rows("SELECT id, name FROM tenants WHERE id = ?", [.text(id)]).first.flatMap(Self.tenant(from:))
    }

    public func tenantIDs() async throws -> Set<String> {
        Set(try await rows("SELECT id FROM tenants").compactMap { $0.column("id")?.string })
    }

    /// Prunes expired ids, then records this one. An id whose ticket has already expired
    /// is refused (false) rather than recorded: pruning forgets such ids, so accepting one
    /// could accept its replay later.
    public func redeemTicket(id: String, expires: Date) async throws -> Bool {
        guard (1...256).contains(id.utf8.count) else { throw StoreError(.invalid, "invalid ticket id") }
        let now = Int64(Date().timeIntervalSince1970.rounded(.down))
        let until = Int64(expires.timeIntervalSince1970.rounded(.up))
        guard until >= now else { return false }
        try await rows("DELETE FROM redeemed_tickets WHERE expires < ?", [.integer(SQLiteInt64(now))])
        return try await !rows("""
            INSERT INTO redeemed_tickets (id, expires) VALUES (?, ?) ON CONFLICT(id) DO NOTHING RETURNING id
            """, [.text(id), .integer(SQLiteInt64(until))]).isEmpty
    }

    /// How many redeemed ids are kept (tests check the pruning).
    public func redeemedTicketCount() async throws -> Int {
        Int(try await rows("SELECT count(*) AS n FROM redeemed_tickets").first?.column("n")?.integer ?? 0)
    }

    static func tenant(from row: SQLiteRow) -> Tenant? {
        guard let id = row.column("id")?.string, let name = row.column("name")?.string else { return nil }
        return Tenant(id: id, name: name)
    }
}
