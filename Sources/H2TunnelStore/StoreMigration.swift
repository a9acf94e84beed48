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
    ]

    static var latest: Int { all.last?.version ?? 0 }
}
