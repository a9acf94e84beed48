import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO

/// The relay's store in one SQLite file (sqlite-nio: the SQLite amalgamation it builds,
/// its calls on an `NIOThreadPool`, never on an event loop). The file is created on first
/// use, with mode 0600 because it holds password hashes, and migrated to the newest schema
/// (`StoreMigration`). WAL mode, so the relay keeps reading while `relay user|tenant|grant`
/// writes from another process; foreign keys on, so removing a user or a tenant removes
/// its grants.
///
/// The connection opens on first use: `Relay` can hold a store from its initializer and
/// `ping()` it at start, where a bad path fails the start with a message.
public final class SQLiteRelayStore: RelayStore {
    public let path: String
    let threadPool: NIOThreadPool
    let hasher: PasswordHasher
    /// scrypt's own threads, half the cores: a burst of sign-ins (each ~0.1 s of CPU and
    /// 32 MiB) neither takes every core from the tunnels nor queues the store's queries
    /// behind it on `threadPool`.
    let hashing: NIOThreadPool
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox<State>(.idle)

    private enum State {
        case idle
        case open(EventLoopFuture<SQLiteConnection>)
        case closed
    }

    /// How long a statement waits for another process's write lock before it fails.
    static let busyTimeoutMilliseconds = 5_000

    public init(path: String, hasher: PasswordHasher = PasswordHasher(),
                threadPool: NIOThreadPool = .singleton,
                eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
                logger: Logger = Logger(label: "store")) {
        self.path = path
        self.hasher = hasher
        self.threadPool = threadPool
        hashing = NIOThreadPool(numberOfThreads: max(1, System.coreCount / 2))
        hashing.start()
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// A store whose file is open and migrated.
    public static func open(path: String, hasher: PasswordHasher = PasswordHasher(),
                            logger: Logger = Logger(label: "store")) async throws -> SQLiteRelayStore {
        let store = SQLiteRelayStore(path: path, hasher: hasher, logger: logger)
        do {
            try await store.ping()
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }

    /// The schema version of the open file (`PRAGMA user_version`).
    public func schemaVersion() async throws -> Int {
        Int(try await rows("PRAGMA user_version").first?.column("user_version")?.integer ?? 0)
    }

    public func ping() async throws {
        _ = try await rows("SELECT 1")
    }

    public func close() async throws {
        let previous = state.withLockedValue { state -> State in
            defer { state = .closed }
            return state
        }
        if case .closed = previous { return }
        try await hashing.shutdownGracefully()
        guard case .open(let future) = previous, let connection = try? await future.get() else { return }
        try await connection.close().get()
    }

    // MARK: Statements

    /// Runs one statement; SQLite's own failures become `.unavailable` with its message.
    @discardableResult
    func rows(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        let connection = try await connection()
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError {
            throw StoreError(.unavailable, "store \(path): \(error.message)")
        }
    }

    private func connection() async throws -> SQLiteConnection {
        let future = try state.withLockedValue { state throws(StoreError) -> EventLoopFuture<SQLiteConnection> in
            switch state {
            case .open(let future):
                return future
            case .closed:
                throw StoreError(.unavailable, "store \(path) is closed")
            case .idle:
                let future = eventLoop.makeFutureWithTask { [path, threadPool, eventLoop, logger] in
                    try await Self.openFile(path: path, threadPool: threadPool, eventLoop: eventLoop, logger: logger)
                }
                state = .open(future)
                return future
            }
        }
        do {
            return try await future.get()
        } catch {
            // A failed open is tried again on the next call (the file may be locked for a moment).
            state.withLockedValue { state in
                if case .open(let current) = state, current === future { state = .idle }
            }
            if let error = error as? StoreError { throw error }
            let message = (error as? SQLiteError)?.message ?? "\(error)"
            throw StoreError(.unavailable, "cannot open store \(path): \(message)")
        }
    }

    private static func openFile(path: String, threadPool: NIOThreadPool, eventLoop: any EventLoop,
                                 logger: Logger) async throws -> SQLiteConnection {
        try await threadPool.runIfActive { try createPrivately(path) }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool,
                                                         logger: logger, on: eventLoop)
        do {
            // Until the file is set up, lock waits are ours (`retrying`), not SQLite's.
            _ = try await connection.query("PRAGMA busy_timeout = 0")
            try await retrying(path: path, "switch to WAL mode") {
                try await connection.query("PRAGMA journal_mode = WAL").first?.column("journal_mode")?.string == "wal"
            }
            _ = try await connection.query("PRAGMA foreign_keys = ON")
            try await migrate(connection, path: path, logger: logger)
            // sqlite-nio's busy handler retries at once, forever; busy_timeout replaces it
            // with SQLite's sleeping one and a bound.
            _ = try await connection.query("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
            return connection
        } catch {
            try? await connection.close().get()
            throw error
        }
    }

    /// Tries `attempt` until it returns true, pausing 5–30 ms while another connection
    /// holds the lock it needs, for at most the busy timeout. Used while a new file is set
    /// up, where two processes meet: SQLite's own busy wait would block a thread of the
    /// pool every connection shares (two on a two-core machine), possibly the one the
    /// lock's holder needs to finish, and two connections switching to WAL at once can
    /// each hold the shared lock the other waits on.
    private static func retrying(path: String, _ what: String, _ attempt: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(busyTimeoutMilliseconds)
        while true {
            do {
                if try await attempt() { return }
            } catch let error as SQLiteError where [.busy, .locked].contains(error.reason) {
                // Someone else holds the lock: pause and try again.
            }
            guard ContinuousClock.now < deadline else {
                throw StoreError(.unavailable, "store \(path): cannot \(what): the file stays locked by another process")
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...30)))
        }
    }

    /// Applies every step newer than the file's version, each in one `BEGIN IMMEDIATE`
    /// transaction that reads the version again under the write lock: two processes
    /// opening a new file at once apply each step once.
    static func migrate(_ connection: SQLiteConnection, path: String, logger: Logger) async throws {
        func version() async throws -> Int {
            Int(try await connection.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0)
        }
        var found = 0
        try await retrying(path: path, "read the schema version") {
            found = try await version()
            return true
        }
        guard found <= StoreMigration.latest else {
            throw StoreError(.unavailable, "store \(path) has schema version \(found), newer than this relay's \(StoreMigration.latest)")
        }
        for migration in StoreMigration.all where migration.version > found {
            try await retrying(path: path, "migrate to schema version \(migration.version)") {
                _ = try await connection.query("BEGIN IMMEDIATE")
                return true
            }
            do {
                if try await version() < migration.version {
                    for statement in migration.statements { _ = try await connection.query(statement) }
                    _ = try await connection.query("PRAGMA user_version = \(migration.version)")
                    logger.info("store migrated", metadata: ["path": "\(path)", "version": "\(migration.version)"])
                }
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Creates the file with mode 0600 before SQLite does (SQLite would use the umask,
    /// usually 0644); SQLite gives its -wal and -shm files the database file's mode.
    private static func createPrivately(_ path: String) throws {
        let fd = Foundation.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            Foundation.close(fd)
        } else if errno != EEXIST {
            throw StoreError(.unavailable, "cannot create store \(path): \(String(cString: strerror(errno)))")
        }
    }
}
