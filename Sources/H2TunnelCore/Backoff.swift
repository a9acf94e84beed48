/// Reconnect delays: exponential with full jitter, capped.
///
/// Full jitter (a uniform draw in `0...min(cap, base·2ⁿ)`) spreads a fleet of agents that
/// lost the same relay at the same moment, so they do not all come back in one wave.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double
    public private(set) var attempt: Int = 0

    public init(base: Double, cap: Double) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the next draw: never above `cap`.
    public var currentCeiling: Double { min(cap, base * Double(1 << min(attempt, 30))) }

    /// The next delay in seconds, drawn with `generator`.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Double {
        let ceiling = currentCeiling
        attempt += 1
        return Double.random(in: 0...ceiling, using: &generator)
    }

    public mutating func next() -> Double {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// Called once a connection proved healthy, so the next loss starts from `base` again.
    public mutating func reset() { attempt = 0 }
}
