import H2TunnelCore
import NIOCore
import Testing

/// Every metric through the real swift-metrics → Prometheus path: each name with its type
/// (a name used as two types, or with and without labels, would stop the process here).
@Suite struct PrometheusExportTests {
    @Test func everyMetricIsExportedWithItsType() {
        PrometheusExport.bootstrap()
        #expect(PrometheusExport.bootstrap() === PrometheusExport.registry)
        RelayMetrics.agentConnection(tenant: "export-test", up: true)
        RelayMetrics.tunnelOpened()
        RelayMetrics.tunnelClosed(outcome: "fin", bytesUp: 10, bytesDown: 20)
        RelayMetrics.clientHelloRejected(reason: "not-tls")
        RelayMetrics.tlsHandshake(endpoint: "site", started: .now() - .milliseconds(3))
        RelayMetrics.pingRoundTrip(tenant: "export-test", .microseconds(420))
        RelayMetrics.signIn(outcome: "signed-in")
        AgentMetrics.relayConnections(1)
        AgentMetrics.tunnelOpened()
        AgentMetrics.tunnelClosed(outcome: "fin", bytesUp: 10, bytesDown: 20)
        AgentMetrics.reconnect()
        AgentMetrics.handshakeTimeout(mode: "tcp")
        AgentMetrics.ticket(outcome: "redeemed")
        AgentMetrics.uplinkPacing(5_820_000)

        let response = AdminResponse.metrics()
        #expect(response.status == .ok && response.contentType == "text/plain; version=0.0.4")
        let types: [(String, String)] = [
            (MetricName.relayAgentConnections, "gauge"), (MetricName.relayTunnelsOpened, "counter"),
            (MetricName.relayTunnelsClosed, "counter"), (MetricName.relayTunnelBytes, "counter"),
            (MetricName.relayClientHelloRejects, "counter"), (MetricName.relayTLSHandshake, "histogram"),
            (MetricName.relayAgentPingRoundTrip, "gauge"), (MetricName.relaySignIns, "counter"),
            (MetricName.agentRelayConnections, "gauge"), (MetricName.agentTunnelsOpened, "counter"),
            (MetricName.agentTunnelsClosed, "counter"), (MetricName.agentTunnelBytes, "counter"),
            (MetricName.agentReconnects, "counter"), (MetricName.agentHandshakeTimeouts, "counter"),
            (MetricName.agentTickets, "counter"), (MetricName.agentUplinkPacing, "gauge"),
        ]
        for (name, type) in types {
            #expect(name.hasPrefix("h2tunnel_"))
            #expect(response.body.contains("# TYPE \(name) \(type)\n"), "\(name) as \(type)")
            if type == "counter" { #expect(name.hasSuffix("_total")) }
        }
        // The handshake histogram has our buckets (a millisecond first), in seconds.
        #expect(response.body.contains("\(MetricName.relayTLSHandshake)_bucket{endpoint=\"site\",le=\"0.001\"}"))
        #expect(response.body.contains("\(MetricName.relayAgentPingRoundTrip){tenant=\"export-test\"} 0.00042"))
    }
}
