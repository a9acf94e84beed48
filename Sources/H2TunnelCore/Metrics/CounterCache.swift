import CoreMetrics
import NIOConcurrencyHelpers

/// The counters of one label, one per value of its dimension, made once and kept, for
/// metrics that move on every tunnel: `Counter(label:dimensions:)` asks the factory each
/// time, and the Prometheus factory's answer (its lock, the name and label checks, the
/// lookup, a new `Counter` object) was ~3 % of the relay's and of the agent's CPU per new
/// connection (perf, 3,000 `tls://` connections).
///
/// A kept counter is only right while the factory it came from is the process's: that
/// holds once `PrometheusExport.bootstrap()` ran (swift-metrics bootstraps once per
/// process). Before it, or in an app that bootstrapped its own backend, every call asks
/// the factory as before, so no counter made before a bootstrap is ever kept.
public final class CounterCache: Sendable {
    private let label: String
    private let dimension: String?
    /// Searched in order: a dimension has a handful of values, all our own short words,
    /// which compare in a few instructions where hashing one for a dictionary costs
    /// ~250 (SipHash), four times a tunnel in each of relay and agent.
    private let counters = NIOLockedValueBox<[(value: String, counter: Counter)]>([])

    /// `dimension`: the one dimension's name (its values come with each call), or nil.
    public init(label: String, dimension: String? = nil) {
        self.label = label
        self.dimension = dimension
    }

    /// The counter for `value` of the dimension (ignored without one).
    public func counter(_ value: String = "") -> Counter {
        guard PrometheusExport.registry != nil else { return make(value) }
        return counters.withLockedValue { made in
            if let kept = made.first(where: { $0.value == value }) { return kept.counter }
            let counter = make(value)
            made.append((value, counter))
            return counter
        }
    }

    private func make(_ value: String) -> Counter {
        guard let dimension else { return Counter(label: label) }
        return Counter(label: label, dimensions: [(dimension, value)])
    }
}
