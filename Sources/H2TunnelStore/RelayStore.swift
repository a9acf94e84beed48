import Foundation

/// A company a relay serves: `id` is the first label of its host (`<id>.<tenant-domain>`).
public struct Tenant: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// A store error a person can act on; `description` is the one-line message the CLI prints.
public struct StoreError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable { case duplicate, unknown, invalid, unavailable }
    public var kind: Kind
    public var description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Everything the relay keeps: users (with password hashes), tenants, grants, and the
/// ids of tickets already redeemed. One protocol, so a PostgreSQL store for a relay
/// fleet (ROADMAP "Relay fleet") can follow without touching callers.
public protocol RelayStore: Sendable {
    // Sign-in and the company list (relay web).
    /// True when `password` is `user`'s. Takes as long for an unknown user as for a
    /// known one, so a timing difference does not tell which names exist.
    func verifyPassword(user: String, password: String) async throws -> Bool
    func tenants(grantedTo user: String) async throws -> [Tenant]
    func isGranted(user: String, tenant: String) async throws -> Bool
    func tenant(id: String) async throws -> Tenant?
    /// All tenant ids: the relay's routing snapshot (unknown against offline).
    func tenantIDs() async throws -> Set<String>
    /// Records a ticket id until `expires`; false when it was recorded already (a replay).
    /// Expired ids are pruned.
    func redeemTicket(id: String, expires: Date) async throws -> Bool
    /// Readiness: the store answers.
    func ping() async throws

    // Administration (`relay user|tenant|grant|revoke`).
    func addUser(_ name: String, password: String) async throws
    func setPassword(_ name: String, password: String) async throws
    func removeUser(_ name: String) async throws
    func users() async throws -> [String]
    func addTenant(_ tenant: Tenant) async throws
    func removeTenant(_ id: String) async throws
    func allTenants() async throws -> [Tenant]
    func grant(user: String, tenant: String) async throws
    func revoke(user: String, tenant: String) async throws

    func close() async throws
}
