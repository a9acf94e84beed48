/// The three per-tunnel counters the relay and the agent each keep (opened, closed by
/// outcome, bytes by direction), made once (`CounterCache`) because they move on every
/// tunnel; outcomes are a fixed set of our own words.
final class TunnelCounters: Sendable {
    private let opened: CounterCache
    private let closed: CounterCache
    private let bytes: CounterCache

    init(opened: String, closed: String, bytes: String) {
        self.opened = CounterCache(label: opened)
        self.closed = CounterCache(label: closed, dimension: "outcome")
        self.bytes = CounterCache(label: bytes, dimension: "direction")
    }

    func tunnelOpened() {
        opened.counter().increment()
    }

    /// Once per tunnel, at its close: the outcome and its byte counts.
    func tunnelClosed(outcome: String, bytesUp: Int, bytesDown: Int) {
        closed.counter(outcome).increment()
        bytes.counter("up").increment(by: bytesUp)
        bytes.counter("down").increment(by: bytesDown)
    }
}
