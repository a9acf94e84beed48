import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Waits for a drain to end or its grace period to pass, and says every few seconds what
/// it still waits for: an operator watching a stop should not have to guess.
public enum DrainProgress {
    /// How often the "still open" line is logged.
    public static let reportInterval = TimeAmount.seconds(5)

    /// Returns when `done` completes or after `grace`; meanwhile logs "draining: N tunnels
    /// still open" every `reportInterval`, N from `openTunnels`.
    public static func wait(for done: EventLoopFuture<Void>, grace: TimeAmount, logger: Logger,
                            openTunnels: () async -> Int) async {
        let deadline = NIODeadline.now() + grace
        // Registered before `firstOf`'s own callback, so it is set by the time that returns.
        let finished = NIOLockedValueBox(false)
        done.whenComplete { _ in finished.withLockedValue { $0 = true } }
        while true {
            let left = deadline - .now()
            guard left > .zero else { return }
            await firstOf(done, orAfter: min(left, reportInterval))
            if finished.withLockedValue({ $0 }) { return }
            guard deadline - .now() > .zero else { return }
            let open = await openTunnels()
            logger.info("draining: \(open) tunnels still open", metadata: [
                "tunnels": "\(open)", "grace_left": "\((deadline - .now()).nanoseconds / 1_000_000_000)s"])
        }
    }
}
