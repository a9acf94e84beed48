import ArgumentParser
import Foundation
import H2TunnelStore
import Logging

/// `--store PATH`, shared by every admin subcommand, and the one way they touch the store.
struct StoreOption: ParsableArguments {
    @Option(help: "The relay's SQLite store (created on first use; the same file as `relay run --store`).")
    var store: String

    /// Opens the store, runs `body`, closes it. A store error is one line on stderr,
    /// `relay: <message>`, and exit status 1.
    func with<T>(_ body: (any RelayStore) async throws -> T) async throws -> T {
        do {
            // Quiet on success: the store's own notes (a migration) only at warning and up.
            var logger = Logger(label: "store")
            logger.logLevel = .warning
            let opened = try await SQLiteRelayStore.open(path: store, logger: logger)
            do {
                let result = try await body(opened)
                try await opened.close()
                return result
            } catch {
                try? await opened.close()
                throw error
            }
        } catch let error as StoreError {
            fail(error.description)
        }
    }
}

/// The admin commands' one-line failure.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("relay: \(message)\n".utf8))
    exit(1)
}
