import Foundation
import NIOCore
import SQLiteNIO

/// The relay site's sessions in the `sessions` table (migration 2). Each call is one
/// statement or a few independent ones, each atomic on its own; ending a user's sessions
/// when the user goes or gets a new password happens inside `removeUser`'s and
/// `setPassword`'s own statement (foreign key cascade, trigger), so a session never
/// outlives either, whichever process (relay or `relay user`) made the change.
extension SQLiteRelayStore {
    public func putSession(key: String, _ session: StoredSession, replace: Bool) async throws -> Bool {
        guard session.value.count <= StoredSession.maxValueBytes else {
            throw StoreError(.invalid, "session data is larger than \(StoredSession.maxValueBytes) bytes")
        }
        let hash = try StoredSession.keyHash(key)
        let now = Self.now
        let expires = SQLiteInt64(session.expires.timeIntervalSince1970.rounded(.up))
        guard expires > now else { return false }
        try await pruneSessions()
        let onConflict = replace
            ? "DO UPDATE SET user_id = excluded.user_id, value = excluded.value, expires = excluded.expires"
            : "DO NOTHING"
        // The WHERE clause is needed: it tells SQLite's parser the upsert is not a join's ON.
        let stored = try await rows("""
            INSERT INTO sessions (key_hash, user_id, value, expires, created_at)
            SELECT ?, id, ?, ?, ? FROM users WHERE name = ?
            ON CONFLICT(key_hash) \(onConflict) RETURNING user_id
            """, [.blob(ByteBuffer(bytes: hash)), .blob(ByteBuffer(bytes: session.value)), .integer(expires),
                  .integer(now), .text(session.user)])
        guard let userID = stored.first?.column("user_id")?.integer else { return false }
        try await rows("""
            DELETE FROM sessions WHERE user_id = ?1 AND rowid NOT IN
                (SELECT rowid FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)
            """, [.integer(userID), .integer(SQLiteInt64(StoredSession.maxPerUser))])
        return true
    }

    public func session(key: String) async throws -> StoredSession? {
        let hash = try StoredSession.keyHash(key)
        guard let row = try await rows("""
            SELECT u.name, s.value, s.expires FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.key_hash = ? AND s.expires > ?
            """, [.blob(ByteBuffer(bytes: hash)), .integer(Self.now)]).first,
            let user = row.column("name")?.string, let expires = row.column("expires")?.integer,
            case .blob(let value) = row.column("value") else { return nil }
        return StoredSession(user: user, value: Data(buffer: value), expires: Date(timeIntervalSince1970: Double(expires)))
    }

    public func removeSession(key: String) async throws {
        try await rows("DELETE FROM sessions WHERE key_hash = ?", [.blob(ByteBuffer(bytes: try StoredSession.keyHash(key)))])
    }

    @discardableResult
    public func removeSessions(user: String) async throws -> Int {
        try await rows("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?) RETURNING user_id",
                       [.text(user)]).count
    }

    @discardableResult
    public func pruneSessions() async throws -> Int {
        try await rows("DELETE FROM sessions WHERE expires <= ? RETURNING user_id", [.integer(Self.now)]).count
    }

    /// How many session rows exist, expired or not (tests check pruning and the bounds).
    public func sessionCount() async throws -> Int {
        Int(try await rows("SELECT count(*) AS n FROM sessions").first?.column("n")?.integer ?? 0)
    }
}
