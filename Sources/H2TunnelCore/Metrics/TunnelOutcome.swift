import NIOConcurrencyHelpers

/// How one tunnel ended, for the `…_tunnels_closed_total{outcome}` counters: the first
/// specific cause noted (a send timeout, a refusal) wins over what the stream's close code
/// says afterwards (a reset, which is only the consequence). Touched once or twice per
/// tunnel, never per byte.
public final class TunnelOutcome: Sendable {
    private let noted = NIOLockedValueBox<String?>(nil)

    public init() {}

    /// Records `outcome` unless an earlier one was recorded.
    public func note(_ outcome: String) {
        noted.withLockedValue { if $0 == nil { $0 = outcome } }
    }

    /// The outcome noted first, else `fallback` (the one the close itself implies).
    public func resolve(_ fallback: @autoclosure () -> String) -> String {
        noted.withLockedValue { $0 } ?? fallback()
    }
}
