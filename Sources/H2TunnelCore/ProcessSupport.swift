import Dispatch
import Foundation
import Logging
import NIOCore

extension TimeAmount {
    /// Fractional seconds, as flags and config files give them.
    public static func fractionalSeconds(_ value: Double) -> TimeAmount {
        .nanoseconds(Int64(value * 1_000_000_000))
    }
}

/// Returns once SIGTERM or SIGINT arrives: the start of a graceful shutdown. A second
/// one ends the process at once (exit 1): an operator who asks twice does not want to
/// wait out the grace period (systemd, Ctrl-C twice).
public func waitForTermination() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            ProcessSignals.on(sig) {
                if once.take() {
                    continuation.resume()
                } else {
                    StandardStream.error.write("second \(name): exiting now, without waiting for open tunnels\n")
                    _exit(1)
                }
            }
        }
    }
}

private final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.lock(); defer { lock.unlock() }
        defer { taken = true }
        return !taken
    }
}

/// The process logger: key=value lines on stderr. A process that logs must survive its
/// stderr going away, so broken pipes are ignored from here on.
public func makeLogger(label: String, level: String?) throws -> Logger {
    StandardStream.ignoreBrokenPipes()
    let parsed: Logger.Level
    if let level {
        guard let value = Logger.Level(rawValue: level) else {
            throw ConfigFile.Error(description: "unknown log level '\(level)'")
        }
        parsed = value
    } else {
        parsed = .info
    }
    var logger = Logger(label: label) { KeyValueLogHandler(label: $0) }
    logger.logLevel = parsed
    return logger
}

/// Prints one line on stdout and flushes it: the "ready" line tests and scripts wait for.
public func announce(_ line: String) {
    StandardStream.output.write(line + "\n")
}

/// Raises the open-file limit to its hard maximum: every tunnel is a socket at the relay
/// and at the agent, and the usual soft limit of 1,024 would refuse the 1,025th browser
/// (Go's runtime and nginx's `worker_rlimit_nofile` do the same).
public func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
