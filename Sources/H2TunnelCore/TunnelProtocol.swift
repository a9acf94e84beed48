/// The wire contract v1 between relay and agent, in one place (README "Wire contract").
public enum TunnelProtocol {
    /// The RFC 8441 `:protocol` token of a stream that carries a browser's raw TLS bytes.
    public static let rawTLSToken = "h2tunnel-tls"
    /// The URI SAN prefix that names a tenant in an agent's client certificate.
    public static let tenantURIPrefix = "urn:h2tunnel:tenant:"
    /// ALPN of the agent connection.
    public static let alpn = "h2"
    /// Request header of a tunnel's CONNECT: the relay's id of the browser connection
    /// (`ConnectionID`), which the agent puts on its log lines for that tunnel as `conn`.
    public static let connectionIDHeader = "h2tunnel-conn"
    /// Request header of every stream the relay opens (the hello and each tunnel's CONNECT):
    /// the relay instance's `--instance-name`, so an agent behind a load balancer can tell
    /// which instance it reached (`agent status`). Checked by `RelayInstanceName.isValid`.
    public static let relayInstanceHeader = "h2tunnel-relay-instance"
    /// `:path` of the relay's one `GET` right after the connection's SETTINGS; the agent
    /// answers 204 and records `relayInstanceHeader` (`RelayInstanceName`).
    public static let helloPath = "/.h2tunnel/hello"
}
