import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

extension TimeAmount {
    /// Fractional seconds, as flags and config files give them.
    public static func fractionalSeconds(_ value: Double) -> TimeAmount {
        .nanoseconds(Int64(value * 1_000_000_000))
    }
}

/// Returns once SIGTERM or SIGINT has arrived (at once if one already did): the start of
/// a graceful shutdown. A second one ends the process at once (exit 1): an operator who
/// asks twice does not want to wait out the grace period (systemd, Ctrl-C twice).
public func waitForTermination() async {
    await Termination.shared.wait()
}

/// Takes over SIGTERM and SIGINT from their default action now, so a signal that arrives
/// while the process starts (or right after its ready line) is kept for
/// `waitForTermination` instead of killing it. `makeLogger` calls it.
public func armTermination() {
    Termination.shared.arm()
}

private final class Termination: @unchecked Sendable {
    static let shared = Termination()
    private let lock = NSLock()
    private var armed = false
    private var signalled = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The process logger once `makeLogger` made it: the second signal's line is then a
    /// line of the chosen format (a JSON collector must not meet one plain line).
    private var logger: Logger?

    func use(_ logger: Logger) {
        lock.lock()
        self.logger = logger
        lock.unlock()
    }

    func arm() {
        lock.lock()
        defer { lock.unlock() }
        guard !armed else { return }
        armed = true
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            ProcessSignals.on(sig) { self.received(name) }
        }
    }

    func wait() async {
        arm()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if signalled {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    private func received(_ name: String) {
        lock.lock()
        guard !signalled else {
            let logger = self.logger
            lock.unlock()
            let message = "second \(name): exiting now, without waiting for open tunnels"
            if let logger {
                logger.error("\(message)")  // the handlers write with write(2): out before _exit
            } else {
                StandardStream.error.write(message + "\n")
            }
            _exit(1)
        }
        signalled = true
        let ready = waiters
        waiters = []
        lock.unlock()
        for waiter in ready { waiter.resume() }
    }
}

/// The process logger: logfmt lines on stderr, or JSON lines with `format` "json". A
/// process that logs must survive its stderr going away, so broken pipes are ignored from
/// here on; and it is a service, so SIGTERM and SIGINT start its graceful stop from here
/// on (`armTermination`).
public func makeLogger(label: String, level: String, format: String) throws -> Logger {
    StandardStream.ignoreBrokenPipes()
    armTermination()
    guard let parsed = Logger.Level(rawValue: level) else {
        throw SettingError(description: "--log-level must be trace, debug, info, notice, warning, error or critical, not '\(level)'")
    }
    var logger: Logger
    switch format {
    case "logfmt": logger = Logger(label: label) { KeyValueLogHandler(label: $0) }
    case "json": logger = Logger(label: label) { JSONLogHandler(label: $0) }
    default: throw SettingError(description: "--log-format must be logfmt or json, not '\(format)'")
    }
    logger.logLevel = parsed
    Termination.shared.use(logger)
    ProcessLogging.bootstrap(format: format)
    return logger
}

/// Loggers a library makes for itself (`Logger(label:)` without one of ours handed in)
/// write the process's format too, not swift-log's default plain `StreamLogHandler` text.
/// `LoggingSystem.bootstrap` may run once per process: later calls are ignored.
private enum ProcessLogging {
    private static let done = NIOLockedValueBox(false)

    static func bootstrap(format: String) {
        let first = done.withLockedValue { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if format == "json" {
            LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        } else {
            LoggingSystem.bootstrap { KeyValueLogHandler(label: $0) }
        }
    }
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
