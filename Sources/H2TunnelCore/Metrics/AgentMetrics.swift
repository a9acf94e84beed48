import CoreMetrics

/// What the agent counts (names and meanings: `MetricName`).
public enum AgentMetrics {
    /// How many relay connections are up now.
    public static func relayConnections(_ count: Int) {
        Gauge(label: MetricName.agentRelayConnections).record(count)
    }

    public static func tunnelOpened() {
        tunnelsOpened.counter().increment()
    }

    /// Once per tunnel, at its close: the outcome and its byte counts.
    public static func tunnelClosed(outcome: String, bytesUp: Int, bytesDown: Int) {
        tunnelsClosed.counter(outcome).increment()
        tunnelBytes.counter("up").increment(by: bytesUp)
        tunnelBytes.counter("down").increment(by: bytesDown)
    }

    /// Per tunnel, so kept (`CounterCache`); outcomes are a fixed set of our own words.
    private static let tunnelsOpened = CounterCache(label: MetricName.agentTunnelsOpened)
    private static let tunnelsClosed = CounterCache(label: MetricName.agentTunnelsClosed, dimension: "outcome")
    private static let tunnelBytes = CounterCache(label: MetricName.agentTunnelBytes, dimension: "direction")

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
