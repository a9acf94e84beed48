import CoreMetrics

/// What the agent counts (names and meanings: `MetricName`).
public enum AgentMetrics {
    /// How many relay connections are up now.
    public static func relayConnections(_ count: Int) {
        Gauge(label: MetricName.agentRelayConnections).record(count)
    }

    public static func tunnelOpened() {
        tunnels.tunnelOpened()
    }

    /// Once per tunnel, at its close: the outcome and its byte counts.
    public static func tunnelClosed(outcome: String, bytesUp: Int, bytesDown: Int) {
        tunnels.tunnelClosed(outcome: outcome, bytesUp: bytesUp, bytesDown: bytesDown)
    }

    private static let tunnels = TunnelCounters(
        opened: MetricName.agentTunnelsOpened, closed: MetricName.agentTunnelsClosed, bytes: MetricName.agentTunnelBytes)

    /// The relay connection's pacing cap in bytes/s; nil: not paced.
    public static func uplinkPacing(_ cap: UInt64?) {
        Gauge(label: MetricName.agentUplinkPacing).record(Int(clamping: cap ?? 0))
    }

    public static func reconnect() {
        Counter(label: MetricName.agentReconnects).increment()
    }

    /// `mode`: "tcp" or "http".
    public static func handshakeTimeout(mode: String) {
        Counter(label: MetricName.agentHandshakeTimeouts, dimensions: [("mode", mode)]).increment()
    }

    /// `outcome`: "redeemed" or the refusal's reason.
    public static func ticket(outcome: String) {
        Counter(label: MetricName.agentTickets, dimensions: [("outcome", outcome)]).increment()
    }
}
