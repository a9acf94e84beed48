import H2TunnelCore
import NIOCore

/// Every setting of `agent run`, one entry each: its flag, `H2TUNNEL_*` variable, config-file
/// key, `--help` line, default, range, and the `AgentConfiguration` field it sets.
public enum AgentSettings {
    /// Every stream of a relay connection lives on that connection's loop, so more loops
    /// only serve the overlap of a drain; one avoids idle threads (docs/performance.md).
    public static let threads = Setting<Int>.count("threads", default: 1, in: 1...1024, help: "Event-loop threads.")
    public static let logLevel = SharedSettings.logLevel
    public static let logFormat = SharedSettings.logFormat
    static let tenantCert = Setting<String?>.path(
        "tenant-cert", readable: true,
        help: "The certificate browsers see (PEM); with tls:// only its names are read. Required with tcp:// and http://.")
    static let tenantKey = Setting<String?>.path(
        "tenant-key", readable: true,
        help: "Private key (PEM) of --tenant-cert; it never leaves this host. Required with tcp:// and http://.")
    static let relayPublicKey = Setting<String?>.path(
        "relay-public-key", readable: true, help: "The relay's ticket-signing public key (PEM, signing.pub); required with http://.")
    static let relayURL = Setting<String?>.text(
        "relay-url", "URL", help: "The relay's site, e.g. https://relay.example.com, where browsers sign in; required with http://.") {
        guard $0.hasPrefix("https://") || $0.hasPrefix("http://"), $0.count > 8 else {
            throw SettingProblem("must be an https:// URL, got '\($0.prefix(80))'")
        }
    }

    public static let table = SettingsTable<AgentConfiguration>(command: "agent run", entries: [
        Setting<String?>.text("relay", "HOST:PORT", help: "The relay's public port.") { _ = try HostPort.parse($0) }
            .setsRequired { c, text in (c.relayHost, c.relayPort) = try HostPort.parse(text) },
        Setting<String?>.text("relay-hostname", "NAME", help: "Agent endpoint name: SNI sent and name verified.",
                              check: SharedSettings.dnsName).setsRequired { c, name in c.relayHostname = HostName.normalize(name) ?? name },
        Setting<String?>.path("cert", readable: true, help: "Agent client certificate (PEM) with URI SAN urn:h2tunnel:tenant:<id>.")
            .setsRequired { c, path in c.certificatePath = path },
        Setting<String?>.path("key", readable: true, help: "Private key (PEM) of --cert.")
            .setsRequired { c, path in c.privateKeyPath = path },
        Setting<String?>.path("relay-ca", readable: true, help: "CA (PEM) that verifies the relay's certificate.")
            .setsRequired { c, path in c.relayCAPath = path },
        tenantCert.sets { c, path in c.tenantCertificatePath = path },
        tenantKey.sets { c, path in c.tenantKeyPath = path },
        Setting<[String]>.list("tenant-name", "NAME",
                               help: "A name this agent serves, for tls:// without --tenant-cert (*.example.com for a wildcard).") { name in
            guard HostName.normalize(name.hasPrefix("*.") ? String(name.dropFirst(2)) : name) != nil else {
                throw SettingProblem("must be a DNS name, got '\(name.prefix(80))'")
            }
        }.sets { c, names in c.tenantNames = names },
        Setting<String?>.text("upstream", "URL",
                              help: "tcp://HOST:PORT (terminate TLS, forward plaintext), tls://HOST:PORT (pass TLS through) or http://HOST:PORT (sign-in, sessions, reverse proxy).") {
            _ = try Upstream.parse($0)
        }.setsRequired { c, text in c.upstream = try Upstream.parse(text) },
        relayPublicKey.sets { c, path in c.relayPublicKeyPath = path },
        relayURL.sets { c, url in c.relayURL = url },
        Setting<Double>.number("session-lifetime", default: 28_800, in: 60...2_592_000, help: "Seconds a browser session lasts in http:// mode.")
            .sets { c, seconds in c.sessionLifetime = seconds },
        SharedSettings.adminListen(default: "127.0.0.1:9091",
                                   help: "Admin HTTP listener (/healthz, /readyz, /metrics, /status), or 'off'.")
            .sets { c, text in (c.adminHost, c.adminPort) = try SharedSettings.adminAddress(text) },
        Setting<Double>.number("reconnect-base", default: 0.5, in: 0.01...3600, help: "Seconds: first reconnect delay ceiling.")
            .sets { c, seconds in c.reconnectBase = seconds },
        Setting<Double>.number("reconnect-max", default: 30, in: 0.01...86_400, help: "Seconds: reconnect delay cap.")
            .sets { c, seconds in c.reconnectMax = seconds },
        Setting<Double>.number("ping-interval", default: 15, in: 0.1...3600, help: "Seconds between PINGs to the relay.")
            .sets { c, seconds in c.http2.pingInterval = .fractionalSeconds(seconds) },
        Setting<Double>.number("ping-timeout", default: 10, in: 0.1...3600, help: "Seconds a PING may stay unanswered.")
            .sets { c, seconds in c.http2.pingTimeout = .fractionalSeconds(seconds) },
        Setting<Double>.number("grace-period", default: 30, in: 0...86_400, help: "Seconds a shutdown waits for open streams.")
            .sets { c, seconds in c.gracePeriod = .fractionalSeconds(seconds) },
        Setting<Double>.number("tcp-keepalive", default: 60, in: 0...7200,
                               help: "Seconds of silence before an app socket is probed; an app gone without a FIN is dropped after twice that (0: never).")
            .sets { c, seconds in c.tcpKeepAlive = Int(seconds.rounded(.up)) },
        Setting<TimeAmount?>.secondsOrNever("send-timeout", default: 60,
                                            help: "Seconds the app may take none of a tunnel's upload before the tunnel is reset.")
            .sets { c, timeout in c.sendTimeout = timeout },
        Setting<Double>.number("handshake-timeout", default: 10, in: 0.1...3600,
                               help: "Seconds a browser has to finish its TLS handshake inside a tcp:// or http:// tunnel before the tunnel is reset.")
            .sets { c, seconds in c.handshakeTimeout = .fractionalSeconds(seconds) },
        Setting<TimeAmount?>.secondsOrNever("idle-timeout", default: 300,
                                            help: "Seconds a tunnel may carry nothing either way before it is reset.")
            .sets { c, timeout in c.idleTimeout = timeout },
        Setting<String>.choice("uplink-pacing", ["auto", "off"], default: "auto",
                               help: "auto: pace the relay connection just below the rate the uplink delivers, so the office router's queue stays empty and pages pass downloads; off: leave it to TCP.")
            .sets { c, mode in c.uplinkPacing = mode == "auto" },
        threads.readByCommand(),
        logLevel.readByCommand(),
        logFormat.readByCommand(),
    ])

    /// The agent's configuration from checked settings; the rules that tie settings to the
    /// upstream's scheme are here.
    public static func configuration(_ values: SettingValues) throws -> AgentConfiguration {
        var configuration = AgentConfiguration(
            relayHost: "", relayPort: 0, relayHostname: "", relayCAPath: "", certificatePath: "", privateKeyPath: "",
            tenantCertificatePath: nil, tenantKeyPath: nil, upstream: .tcp(host: "", port: 0))
        try table.apply(values, to: &configuration)
        // The tenant key is needed only where the agent terminates the browser's TLS; with
        // tls:// the names come from --tenant-cert or --tenant-name (issue 13, item 6).
        if configuration.upstream.terminatesTLS {
            _ = try values.required(tenantCert)
            _ = try values.required(tenantKey)
        } else {
            configuration.tenantKeyPath = nil
            if configuration.tenantCertificatePath == nil && configuration.tenantNames.isEmpty {
                throw SettingError(description: "tls:// needs --tenant-cert or --tenant-name (the names browsers may ask for)")
            }
        }
        if case .http = configuration.upstream {
            _ = try values.required(relayPublicKey)
            _ = try values.required(relayURL)
        }
        return configuration
    }
}
