import H2TunnelCore
import H2TunnelHTTP2
import NIOCore

/// Every setting of `relay run`, one entry each: its flag, `H2TUNNEL_*` variable, config-file
/// key, `--help` line, default, range, and the `RelayConfiguration` field it sets.
public enum RelaySettings {
    /// A browser's bytes hop to its agent connection's loop; fewer loops mean fewer hops,
    /// and the kernel's network stack needs cores too (docs/performance.md).
    public static let threads = Setting<Int>.count(
        "threads", default: max(1, System.coreCount / 2), in: 1...1024, defaultNote: "half the cores, at least 1",
        help: "Event-loop threads.")
    public static let logLevel = SharedSettings.logLevel
    public static let logFormat = SharedSettings.logFormat
    static let store = Setting<String?>.path(
        "store", readable: false,
        help: "SQLite store of users, tenants and grants (created on first run; see `relay user --help`). "
            + "With it, browsers for tenants not in it are refused as unknown.")
    static let signingKey = Setting<String?>.path(
        "signing-key", readable: true,
        help: "Ed25519 private key (PEM) that signs sign-in tickets (Tools/gen-pki makes signing.key); needed with --store.")
    static let sendTimeout = Setting<TimeAmount?>.secondsOrNever(
        "send-timeout", default: 60,
        help: "Seconds a browser may take none of its tunnel's output before the tunnel is reset.")

    public static let table = SettingsTable<RelayConfiguration>(command: "relay run", entries: [
        Setting<String>.text("listen", "HOST:PORT", default: "0.0.0.0:443", help: "Public TLS port.") { _ = try HostPort.parse($0) }
            .sets { c, text in (c.listenHost, c.listenPort) = try HostPort.parse(text) },
        Setting<String?>.text("hostname", "NAME", help: "The relay's own hostname (its sign-in site).", check: SharedSettings.dnsName)
            .setsRequired { c, name in c.hostname = HostName.normalize(name) ?? name },
        Setting<String?>.path("cert", readable: true, help: "Certificate chain (PEM) valid for --hostname and --agent-hostname.")
            .setsRequired { c, path in c.certificatePath = path },
        Setting<String?>.path("key", readable: true, help: "Private key (PEM) of --cert.")
            .setsRequired { c, path in c.privateKeyPath = path },
        Setting<String?>.text("agent-hostname", "NAME", help: "The agent endpoint name (mTLS, ALPN h2).", check: SharedSettings.dnsName)
            .setsRequired { c, name in c.agentHostname = HostName.normalize(name) ?? name },
        Setting<String?>.path("agent-ca", readable: true, help: "CA (PEM) that signs agent client certificates.")
            .setsRequired { c, path in c.agentCAPath = path },
        Setting<String?>.text("tenant-domain", "NAME", help: "Tenants are <id>.<tenant-domain>.", check: SharedSettings.dnsName)
            .setsRequired { c, name in c.tenantDomain = HostName.normalize(name) ?? name },
        SharedSettings.adminListen(default: "127.0.0.1:9090",
                                   help: "Admin HTTP listener (/healthz, /readyz, /metrics, /agents), or 'off'.")
            .sets { c, text in (c.adminHost, c.adminPort) = try SharedSettings.adminAddress(text) },
        Setting<Double>.number("client-hello-timeout", default: 10, in: 0.1...3600,
                               help: "Seconds a browser has to send its ClientHello.")
            .sets { c, seconds in c.clientHelloTimeout = .fractionalSeconds(seconds) },
        Setting<Double>.number("ping-interval", default: 15, in: 0.1...3600, help: "Seconds between PINGs on agent connections.")
            .sets { c, seconds in c.http2.pingInterval = .fractionalSeconds(seconds) },
        Setting<Double>.number("ping-timeout", default: 10, in: 0.1...3600,
                               help: "Seconds a PING may stay unanswered before the agent is dropped.")
            .sets { c, seconds in c.http2.pingTimeout = .fractionalSeconds(seconds) },
        Setting<Double>.number("grace-period", default: 30, in: 0...86_400, help: "Seconds a shutdown waits for open tunnels.")
            .sets { c, seconds in c.gracePeriod = .fractionalSeconds(seconds) },
        Setting<Double>.number("tcp-keepalive", default: 60, in: 0...7200,
                               help: "Seconds of silence before a browser's socket is probed; a browser gone without a FIN is dropped after twice that (0: never).")
            .sets { c, seconds in c.tcpKeepAlive = Int(seconds.rounded(.up)) },
        sendTimeout.sets { c, timeout in
            c.sendTimeout = timeout
            // An agent that keeps a tunnel's window shut is reset like a browser that stops
            // reading, after twice the time: a working agent resets a tunnel whose app stopped
            // reading after its own --send-timeout, and says so; the relay acts only where the agent does not.
            c.http2.peerWindowTimeout = timeout.map { .nanoseconds($0.nanoseconds * 2) }
        },
        Setting<Int>.count("max-tunnels-per-address", default: 2048, in: 0...1_000_000,
                           help: "Tunnels one browser address (an IPv6 /64 as one) may hold open at once; more are closed unanswered (0: no cap).")
            .sets { c, count in c.maxTunnelsPerAddress = count },
        Setting<Int>.count("agent-connection-streams", default: HTTP2Settings().lifetimeStreams, in: 1...HTTP2Settings().lifetimeStreams,
                           help: "Browser connections one agent connection carries before the agent is asked for a fresh one (HTTP/2 stream IDs are never reused).")
            // One more for the hello stream (`TunnelProtocol.helloPath`), which is no browser's.
            .sets { c, count in c.http2.lifetimeStreams = min(count + 1, HTTP2Settings().lifetimeStreams) },
        threads.readByCommand(),
        logLevel.readByCommand(),
        logFormat.readByCommand(),
        signingKey.sets { c, path in c.signingKeyPath = path },
        Setting<Int?>.count("public-port", "PORT", in: 1...65_535, defaultNote: "the port the browser connected to; 443 is left out",
                            help: "The port browsers use in the links the sign-in site makes.")
            .sets { c, port in c.publicPort = port },
        Setting<[String]>.list("agent-deny-fingerprint", "SHA256",
                               help: "Refuse the agent certificate with this SHA-256 fingerprint (hex, colons allowed).")
            .sets { c, fingerprints in c.agentDenyList.fingerprints = try AgentDenyList(flags: fingerprints, file: nil).fingerprints },
        Setting<String?>.path("agent-deny-file", readable: false,
                              help: "File of agent certificate fingerprints to refuse, one a line, # comments; read again on SIGHUP, cutting off live connections it names.")
            .sets { c, path in
                c.agentDenyList.file = path
                c.agentDenied = try c.agentDenyList.load()
            },
        Setting<Int>.count("max-agent-connections-per-tenant", default: 4, in: 1...1000,
                           help: "Agent connections one tenant may hold at once; a further one is closed after its TLS handshake.")
            .sets { c, count in c.maxAgentConnectionsPerTenant = count },
        Setting<[String]>.list("proxy-protocol-from", "CIDR",
                               help: "Source network whose connections must start with a PROXY protocol v1 or v2 header (a load balancer).") {
            do { _ = try TrustedProxies([$0]) } catch let error as TrustedProxies.ParseError {
                throw SettingProblem("'\(error.text.prefix(80))' is not an address or CIDR network (\(error.why))")
            }
        }.sets { c, networks in c.proxyProtocolFrom = networks },
        store.sets { c, path in c.storePath = path },
        Setting<String?>.text("instance-name", "NAME",
                              help: "This relay instance's name, told to agents so `agent status` shows which instance behind a load balancer it reached (default: the host name).") {
            guard RelayInstanceName.isValid($0) else {
                throw SettingProblem("must be 1 to \(RelayInstanceName.maxLength) of A-Z a-z 0-9 . _ -, got '\($0.prefix(80))'")
            }
        }.sets { c, name in c.instanceName = name ?? RelayInstanceName.local },
    ])

    /// The relay's configuration from checked settings; the cross-setting rules are here.
    public static func configuration(_ values: SettingValues) throws -> RelayConfiguration {
        var configuration = RelayConfiguration(
            listenHost: "", listenPort: 0, hostname: "", certificatePath: "", privateKeyPath: "", agentHostname: "",
            agentCAPath: "", tenantDomain: "", adminHost: nil, adminPort: 0)
        try table.apply(values, to: &configuration)
        if configuration.storePath != nil, configuration.signingKeyPath == nil {
            throw SettingError(description: "--store needs --signing-key (the Ed25519 key that signs sign-in tickets)")
        }
        return configuration
    }
}
