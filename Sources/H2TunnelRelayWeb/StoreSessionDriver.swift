import Foundation
import H2TunnelStore
import Hummingbird
import Logging

/// Hummingbird's `PersistDriver` for the site's sessions, kept in the relay's store
/// instead of this process's memory: a relay restart keeps everyone signed in, relays
/// sharing a store share sessions, and `relay user remove|passwd` ends a user's sessions
/// (the store deletes them with the change). hummingbird-auth's `SessionStorage` makes
/// the key: the site's prefix plus 32 random bytes from the system's CSPRNG, base64; the
/// store keeps only the key's SHA-256 and finds a session by hashing the key it is given.
///
/// Only session data that names its user (`SessionOwner`) is stored; anything else is
/// refused, so no session escapes the user-bound ending.
struct StoreSessionDriver: PersistDriver {
    let store: any RelayStore
    /// A session without an expiry of its own gets this one, so none lives forever.
    let maxLifetime: Duration
    /// How often expired rows are dropped while no one signs in (each write drops them too).
    let tidyInterval: Duration
    let logger: Logger

    init(store: any RelayStore, maxLifetime: Duration, tidyInterval: Duration = .seconds(600), logger: Logger) {
        self.store = store
        self.maxLifetime = maxLifetime
        self.tidyInterval = tidyInterval
        self.logger = logger
    }

    func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        guard try await put(key: key, value: value, expires: expires, replace: false) else {
            throw PersistError.duplicate
        }
    }

    func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        // No new expiry: the session keeps the one it has (the protocol's contract).
        var until = expires.map(Self.date(in:))
        if until == nil { until = try await store.session(key: key)?.expires }
        let ends = until ?? Self.date(in: maxLifetime)
        guard try await put(key: key, value: value, ends: ends, replace: true) else {
            logger.warning("session not stored", metadata: ["reason": "unknown-user"])
            return
        }
    }

    func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        try await getWithTTL(key: key, as: type)?.object
    }

    func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (object: Object, ttl: Duration?)? {
        guard let stored = try await store.session(key: key) else { return nil }
        let object: Object
        do {
            object = try JSONDecoder().decode(type, from: stored.value)
        } catch {
            throw PersistError.invalidConversion
        }
        return (object, .seconds(max(0, stored.expires.timeIntervalSinceNow)))
    }

    func remove(key: String) async throws {
        try await store.removeSession(key: key)
    }

    /// Drops expired sessions every `tidyInterval` until the relay stops.
    func run() async throws {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: tidyInterval)
            } catch {
                return
            }
            do {
                let dropped = try await store.pruneSessions()
                if dropped > 0 { logger.debug("expired sessions dropped", metadata: ["count": "\(dropped)"]) }
            } catch {
                logger.warning("expired sessions not dropped", metadata: ["error": "\(error)"])
            }
        }
    }

    private func put<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?, replace: Bool) async throws -> Bool {
        try await put(key: key, value: value, ends: Self.date(in: expires ?? maxLifetime), replace: replace)
    }

    private func put<Object: Codable & Sendable>(key: String, value: Object, ends: Date, replace: Bool) async throws -> Bool {
        guard let owner = (value as? any SessionOwner)?.sessionOwner else {
            throw StoreError(.invalid, "session data without a user is not stored")
        }
        let data = try JSONEncoder().encode(value)
        return try await store.putSession(key: key, StoredSession(user: owner, value: data, expires: ends), replace: replace)
    }

    private static func date(in duration: Duration) -> Date {
        let (seconds, attoseconds) = duration.components
        return Date().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
