import H2TunnelCore
import Testing

/// A kept counter is the one the Prometheus registry exports: increments through it show
/// on `/metrics`, each dimension value has its own, and asking twice gives the same one.
@Suite struct CounterCacheTests {
    @Test func keptCountersAreTheRegistrysOwn() {
        let registry = PrometheusExport.bootstrap()
        let cache = CounterCache(label: "h2tunnel_counter_cache_test_total", dimension: "outcome")
        #expect(cache.counter("fin") === cache.counter("fin"))
        #expect(cache.counter("fin") !== cache.counter("idle"))
        cache.counter("fin").increment(by: 3)
        cache.counter("fin").increment()
        cache.counter("idle").increment()
        let text = registry.emitToString()
        #expect(text.contains(#"h2tunnel_counter_cache_test_total{outcome="fin"} 4"#))
        #expect(text.contains(#"h2tunnel_counter_cache_test_total{outcome="idle"} 1"#))
    }
}
