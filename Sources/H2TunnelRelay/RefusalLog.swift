import Foundation
import H2TunnelCore
import Logging
import NIOConcurrencyHelpers

/// "browser refused" lines, at most `burst` per reason per second: a burst of port scans or
/// not-TLS probes must not flood the log (and its disk). The first `burst` refusals of a
/// reason in a window are logged in full (a few, so an operator still sees the names of
/// an ordinary mistake); when the window ends, one more line gives how many there were in
/// all (`count`) and how many of them were not logged (`suppressed`).
final class RefusalLog: Sendable {
    private let logger: Logger
    private let window: TimeInterval
    private let burst: Int
    private let windows = NIOLockedValueBox([String: Int]())
    private let queue = DispatchQueue(label: "h2tunnel.refusal-log")

    init(logger: Logger, window: TimeInterval = 1, burst: Int = 5) {
        self.logger = logger
        self.window = window
        self.burst = burst
    }

    /// Logs the refusal now if it is among the first `burst` of its reason in the window,
    /// else counts it.
    func refused(reason: String, metadata: Logger.Metadata) {
        RelayMetrics.clientHelloRejected(reason: reason)
        let count = windows.withLockedValue { windows -> Int in
            let count = (windows[reason] ?? 0) + 1
            windows[reason] = count
            return count
        }
        guard count <= burst else { return }
        logger.info("browser refused", metadata: metadata)
        if count == 1 {
            queue.asyncAfter(deadline: .now() + window) { self.close(reason: reason) }
        }
    }

    private func close(reason: String) {
        let count = windows.withLockedValue { $0.removeValue(forKey: reason) } ?? 0
        guard count > burst else { return }
        logger.info("browser refused", metadata: [
            "reason": "\(reason)", "count": "\(count)", "suppressed": "\(count - burst)", "window": "\(window)s"])
    }
}
