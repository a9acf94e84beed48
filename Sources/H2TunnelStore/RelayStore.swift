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

/// Everything the relay keeps: users (with password hashes), tenants, grants, the ids of
/// tickets already redeemed, and the site's sessions. One protocol, so a PostgreSQL store
/// for a relay fleet (ROADMAP "Relay fleet") can follow without touching callers.
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

    // Sessions of the relay's site (its `PersistDriver`). `key` is the cookie's secret
    // id: a store keeps only its SHA-256 (`StoredSession.keyHash`), and finds a session
    // by hashing the key it is given, so a leaked store holds no usable session id.
    /// Stores `session` under `key`, dropping expired sessions and the user's oldest
    /// beyond `StoredSession.maxPerUser`. With `replace` false, a live session under the
    /// same key stays and the result is false. Also false (nothing stored) when the user
    /// does not exist (removed meanwhile).
    func putSession(key: String, _ session: StoredSession, replace: Bool) async throws -> Bool
    /// The live (unexpired) session under `key`.
    func session(key: String) async throws -> StoredSession?
    func removeSession(key: String) async throws
    /// Ends every session of `user` (`removeUser` and `setPassword` do it too); how many.
    @discardableResult
    func removeSessions(user: String) async throws -> Int
    /// Drops expired sessions; how many.
    @discardableResult
    func pruneSessions() async throws -> Int

    // Administration (`relay user|tenant|grant|revoke`). Removing a user or setting a
    // new password ends the user's sessions in the same statement.
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
