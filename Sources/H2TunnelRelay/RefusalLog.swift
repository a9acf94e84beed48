import Foundation
import Logging
import NIOConcurrencyHelpers

/// "browser refused" lines, at most one per reason per second: a burst of port scans or
/// not-TLS probes must not flood the log (and its disk). The first refusal of a reason in
/// a window is logged in full; when the window ends, one more line gives how many there
/// were in all (`count`) and how many of them were not logged (`suppressed`).
final class RefusalLog: Sendable {
    private let logger: Logger
    private let window: TimeInterval
    private let windows = NIOLockedValueBox([String: Int]())
    private let queue = DispatchQueue(label: "h2tunnel.refusal-log")

    init(logger: Logger, window: TimeInterval = 1) {
        self.logger = logger
        self.window = window
    }

    /// Logs the refusal now if it is the first of its reason in the window, else counts it.
    func refused(reason: String, metadata: Logger.Metadata) {
        let first = windows.withLockedValue { windows -> Bool in
            if let count = windows[reason] {
                windows[reason] = count + 1
                return false
            }
            windows[reason] = 1
            return true
        }
        guard first else { return }
        logger.info("browser refused", metadata: metadata)
        queue.asyncAfter(deadline: .now() + window) { self.close(reason: reason) }
    }

    private func close(reason: String) {
        let count = windows.withLockedValue { $0.removeValue(forKey: reason) } ?? 1
        guard count > 1 else { return }
        logger.info("browser refused", metadata: [
            "reason": "\(reason)", "count": "\(count)", "suppressed": "\(count - 1)", "window": "\(window)s"])
    }
}
