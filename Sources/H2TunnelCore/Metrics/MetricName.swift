/// Every metric H2Tunnel emits, in one place (README "Health, readiness, metrics").
/// Library code emits them through swift-metrics only, so an app that embeds the agent or
/// the relay may bring its own backend; `relay run` and `agent run` bootstrap Prometheus
/// (`PrometheusExport`) and serve it on `/metrics`. Nothing is counted per byte on the data path: bytes are added
/// once per tunnel, when it closes. Each name keeps one type and one set of label names:
/// swift-prometheus stops the process on a name registered as two types, or with and
/// without labels.
public enum MetricName {
    // MARK: Relay

    /// Gauge, label `tenant`: agent connections whose HTTP/2 is up (draining ones included).
    public static let relayAgentConnections = "h2tunnel_relay_agent_connections"
    /// Counter: tunnels the relay asked an agent connection for (one per routed browser connection).
    public static let relayTunnelsOpened = "h2tunnel_relay_tunnels_opened_total"
    /// Counter, label `outcome`: tunnels ended — `fin` (both sides finished), `reset-by-browser`,
    /// `reset-by-agent`, `send-timeout` (the browser stopped reading), `refused` (no stream:
    /// agent busy, draining, or its answer was not 200). Opened minus closed is in flight.
    public static let relayTunnelsClosed = "h2tunnel_relay_tunnels_closed_total"
    /// Counter, label `direction`: tunnel bytes, `up` (browser → agent) and `down` (agent →
    /// browser), added when the tunnel closes.
    public static let relayTunnelBytes = "h2tunnel_relay_tunnel_bytes_total"
    /// Counter, label `reason`: public connections closed before a tunnel or the site took
    /// them, by the reason the "browser refused" line names (`no-sni`, `unknown-host`,
    /// `unknown-tenant`, `tenant-offline`, `too-many-tunnels`, `timeout`, `not-tls`,
    /// `bad-client-hello`, `eof`, `internal`, `proxy-header-missing`, `proxy-header-invalid`,
    /// `proxy-header-untrusted`). Counted also when the line is suppressed by its rate limit.
    public static let relayClientHelloRejects = "h2tunnel_relay_client_hello_rejects_total"
    /// Histogram (seconds), label `endpoint` (`agent`, `site`): from the complete ClientHello
    /// to the finished TLS handshake, for the agent endpoint and the relay's own site.
    public static let relayTLSHandshake = "h2tunnel_relay_tls_handshake_seconds"
    /// Gauge (seconds), label `tenant`: the smallest PING round trip measured on the
    /// tenant's newest agent connection (the value `/agents` shows as roundTripMs).
    public static let relayAgentPingRoundTrip = "h2tunnel_relay_agent_ping_rtt_seconds"
    /// Counter, label `outcome`: sign-ins at the relay's site — `signed-in`, `wrong-password`,
    /// `rate-limited`, `csrf` (the form could not be verified), `invalid-form` (empty or
    /// over-long fields).
    public static let relaySignIns = "h2tunnel_relay_sign_ins_total"

    // MARK: Agent

    /// Gauge: relay connections whose HTTP/2 is up (0 = not connected; 2 for a moment while
    /// a draining connection is replaced, make-before-break).
    public static let agentRelayConnections = "h2tunnel_agent_relay_connections"
    /// Counter: tunnels (extended CONNECT streams) the relay opened and the agent accepted
    /// or refused.
    public static let agentTunnelsOpened = "h2tunnel_agent_tunnels_opened_total"
    /// Counter, label `outcome`: tunnels ended — `fin`, `reset-by-relay` (the browser or the
    /// relay reset the stream), `reset-by-app`, `send-timeout` (the app stopped reading),
    /// `idle`, `handshake-timeout` (tcp://), `upstream-unreachable`, `refused` (bad request,
    /// a name this agent does not serve).
    public static let agentTunnelsClosed = "h2tunnel_agent_tunnels_closed_total"
    /// Counter, label `direction`: tunnel bytes, added at close: `up` (browser → app) as they
    /// come from the relay (the browser's TLS records in tcp:// mode), `down` (app → browser)
    /// as the app sent them (plaintext in tcp:// mode, before the agent's TLS).
    public static let agentTunnelBytes = "h2tunnel_agent_tunnel_bytes_total"
    /// Gauge (bytes/s): the pacing cap on the relay connection (`--uplink-pacing auto`,
    /// `LinkPacer`); 0: not paced.
    public static let agentUplinkPacing = "h2tunnel_agent_uplink_pacing_bytes_per_second"
    /// Counter: reconnects scheduled after a relay connection was lost or a dial failed.
    public static let agentReconnects = "h2tunnel_agent_reconnects_total"
    /// Counter, label `mode` (`tcp`, `http`): browser TLS handshakes the agent gave up on.
    public static let agentHandshakeTimeouts = "h2tunnel_agent_handshake_timeouts_total"
    /// Counter, label `outcome`: sign-in tickets in http:// mode — `redeemed`, or why one was
    /// refused (`malformed`, `bad-signature`, `expired`, `wrong-audience`, `replayed`,
    /// `replay-cache-full`).
    public static let agentTickets = "h2tunnel_agent_tickets_total"

    /// Buckets of `relayTLSHandshake`: loopback handshakes take a millisecond, ones across
    /// continents a few hundred.
    public static let handshakeBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .microseconds(2_500_000), .seconds(5), .seconds(10),
    ]
}
