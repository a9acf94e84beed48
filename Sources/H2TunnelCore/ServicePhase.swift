import NIOConcurrencyHelpers

/// Where a relay or agent is in its life, as `/readyz` and `agent status` report it: a load
/// balancer must stop sending new connections the moment a drain begins, before the
/// listener closes, so readiness is a state of its own and not "the port answers".
public final class ServicePhase: Sendable {
    public enum Phase: String, Sendable {
        /// Listeners are being bound, the store opened.
        case starting
        /// Serving.
        case ready
        /// A shutdown began: no new work is taken, open work may finish.
        case draining
        /// Everything is closed.
        case stopped
    }

    private let phase = NIOLockedValueBox(Phase.starting)

    public init() {}

    public var current: Phase { phase.withLockedValue { $0 } }

    /// Moves forward only: a late "ready" cannot undo a drain that has begun. True when it
    /// moved: of two concurrent shutdowns, the one that gets true does the work.
    @discardableResult
    public func advance(to next: Phase) -> Bool {
        phase.withLockedValue { current in
            guard Self.order(next) > Self.order(current) else { return false }
            current = next
            return true
        }
    }

    private static func order(_ phase: Phase) -> Int {
        switch phase {
        case .starting: 0
        case .ready: 1
        case .draining: 2
        case .stopped: 3
        }
    }
}
