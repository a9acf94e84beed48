/// One step of the store's schema. Steps are applied in order, each once, each in its
/// own transaction; `PRAGMA user_version` holds the number of the last one applied, so a
/// store file says which schema it has and a newer relay upgrades an older file in place.
struct StoreMigration: Sendable {
    let version: Int
    let statements: [String]

    /// Never edit a shipped step: add the next one. STRICT tables make SQLite check
    /// column types (SQLite 3.37), so a bad write fails instead of storing the wrong kind.
    static let all: [StoreMigration] = [
        StoreMigration(version: 1, statements: [
            """
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT
            """,
            """
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT
            """,
            """
            CREATE TABLE grants (
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                PRIMARY KEY (user_id, tenant_id)
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX grants_by_tenant ON grants(tenant_id)",
            """
            CREATE TABLE redeemed_tickets (
                id TEXT PRIMARY KEY,
                expires INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX redeemed_tickets_by_expiry ON redeemed_tickets(expires)",
        ]),
        // Sessions of the relay's site, so a restart keeps everyone signed in and relays
        // sharing a store share them. The key is SHA-256 of the cookie's id, never the id.
        // A session belongs to a user: removing the user removes it (foreign key), and a
        // new password removes it (trigger), in the statement that makes the change.
        StoreMigration(version: 2, statements: [
            """
            CREATE TABLE sessions (
                key_hash BLOB PRIMARY KEY CHECK (length(key_hash) = 32),
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                value BLOB NOT NULL,
                expires INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT
            """,
            "CREATE INDEX sessions_by_expiry ON sessions(expires)",
            "CREATE INDEX sessions_by_user ON sessions(user_id)",
            """
            CREATE TRIGGER sessions_end_on_new_password AFTER UPDATE OF password_hash ON users
            WHEN NEW.password_hash IS NOT OLD.password_hash
            BEGIN DELETE FROM sessions WHERE user_id = NEW.id; END
            """,
        ]),
    ]

    static var latest: Int { all.last?.version ?? 0 }
}
