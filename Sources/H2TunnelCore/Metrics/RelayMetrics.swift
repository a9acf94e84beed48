import CoreMetrics
import NIOCore

/// What the relay counts (names and meanings: `MetricName`). Each call looks its metric up
/// in the bootstrapped factory, except the per-tunnel counters (`TunnelCounters`), which
/// are kept only once `PrometheusExport.bootstrap()` ran.
public enum RelayMetrics {
    /// An agent connection's HTTP/2 came up (`up`), or that connection closed.
    public static func agentConnection(tenant: String, up: Bool) {
        let meter = Meter(label: MetricName.relayAgentConnections, dimensions: [("tenant", tenant)])
        if up { meter.increment() } else { meter.decrement() }
    }

    public static func tunnelOpened() {
        tunnels.tunnelOpened()
    }

    /// Once per tunnel, at its close: the outcome and its byte counts.
    public static func tunnelClosed(outcome: String, bytesUp: Int, bytesDown: Int) {
        tunnels.tunnelClosed(outcome: outcome, bytesUp: bytesUp, bytesDown: bytesDown)
    }

    private static let tunnels = TunnelCounters(
        opened: MetricName.relayTunnelsOpened, closed: MetricName.relayTunnelsClosed, bytes: MetricName.relayTunnelBytes)

    public static func clientHelloRejected(reason: String) {
        Counter(label: MetricName.relayClientHelloRejects, dimensions: [("reason", reason)]).increment()
    }

    /// `endpoint`: "agent" or "site"; `started`: when the ClientHello was complete.
    public static func tlsHandshake(endpoint: String, started: NIODeadline) {
        let nanoseconds = (NIODeadline.now() - started).nanoseconds
        Timer(label: MetricName.relayTLSHandshake, dimensions: [("endpoint", endpoint)]).recordNanoseconds(nanoseconds)
    }

    public static func pingRoundTrip(tenant: String, _ roundTrip: TimeAmount) {
        Gauge(label: MetricName.relayAgentPingRoundTrip, dimensions: [("tenant", tenant)])
            .record(Double(roundTrip.nanoseconds) / 1e9)
    }

    public static func signIn(outcome: String) {
        Counter(label: MetricName.relaySignIns, dimensions: [("outcome", outcome)]).increment()
    }
}
