import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The Prometheus registry behind swift-metrics for `relay run` and `agent run`, which the
/// admin listeners' `/metrics` serve. Libraries never call `bootstrap()`: an app embedding
/// the agent keeps whatever backend it bootstrapped (its `/metrics`, if any, is its own).
public enum PrometheusExport {
    /// Prometheus text exposition format 0.0.4, the answer's content-type.
    public static let contentType = "text/plain; version=0.0.4"

    private static let installed = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps `MetricsSystem` with a Prometheus registry, once per process
    /// (swift-metrics allows one bootstrap); a second call returns the same registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        installed.withLockedValue { current in
            if let current { return current }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets = [MetricName.relayTLSHandshake: MetricName.handshakeBuckets]
            MetricsSystem.bootstrap(factory)
            current = registry
            return registry
        }
    }

    /// The registry `bootstrap()` installed; nil when the process brought its own backend.
    public static var registry: PrometheusCollectorRegistry? { installed.withLockedValue { $0 } }
}
