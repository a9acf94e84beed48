import ArgumentParser
import Foundation
import H2TunnelAgent
import H2TunnelCore
import Logging
import NIOCore
import NIOPosix

@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The H2Tunnel agent: dials the relay and serves browsers' tunnels with the tenant's own key.",
        subcommands: [Run.self, Status.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent.",
        discussion: """
            Every flag can also be set in a JSON config file (--config) under its long name. Flags win.

            Example:
              agent run --relay relay.example.com:443 --relay-hostname agents.relay.example.com \\
                --relay-ca relay-ca.pem --cert agent.pem --key agent.key \\
                --tenant-cert tenant.pem --tenant-key tenant.key --upstream tcp://127.0.0.1:8080
            """)

    @Option(help: "JSON config file; command-line flags override it.") var config: String?
    @Option(help: "The relay's public port, HOST:PORT.") var relay: String?
    @Option(name: .customLong("relay-hostname"), help: "Agent endpoint name: SNI sent and name verified.") var relayHostname: String?
    @Option(name: .customLong("relay-ca"), help: "CA (PEM) that verifies the relay's certificate.") var relayCA: String?
    @Option(help: "Agent client certificate (PEM) with URI SAN urn:h2tunnel:tenant:<id>.") var cert: String?
    @Option(help: "Private key (PEM) of --cert.") var key: String?
    @Option(name: .customLong("tenant-cert"), help: "The certificate browsers see (PEM); with tls:// only its names are read.") var tenantCert: String?
    @Option(name: .customLong("tenant-key"), help: "Private key (PEM) of --tenant-cert; it never leaves this host (tcp:// and http:// only).") var tenantKey: String?
    @Option(name: .customLong("tenant-name"),
            help: "A name this agent serves (repeatable or comma-separated); for tls:// without --tenant-cert.")
    var tenantName: [String] = []
    @Option(help: "tcp://HOST:PORT (terminate TLS, forward plaintext), tls://HOST:PORT (pass TLS through) or http://HOST:PORT (sign-in, sessions, reverse proxy).") var upstream: String?
    @Option(name: .customLong("relay-public-key"), help: "The relay's ticket-signing public key (PEM, signing.pub); required with http://.") var relayPublicKey: String?
    @Option(name: .customLong("relay-url"), help: "The relay's site, e.g. https://relay.example.com, where browsers sign in; required with http://.") var relayURL: String?
    @Option(name: .customLong("session-lifetime"), help: "Seconds a browser session lasts in http:// mode (default 28800).") var sessionLifetime: Double?
    @Option(name: .customLong("reconnect-base"), help: "Seconds: first reconnect delay ceiling (default 0.5).") var reconnectBase: Double?
    @Option(name: .customLong("reconnect-max"), help: "Seconds: reconnect delay cap (default 30).") var reconnectMax: Double?
    @Option(name: .customLong("ping-interval"), help: "Seconds between PINGs to the relay (default 15).") var pingInterval: Double?
    @Option(name: .customLong("ping-timeout"), help: "Seconds a PING may stay unanswered (default 10).") var pingTimeout: Double?
    @Option(name: .customLong("grace-period"), help: "Seconds a shutdown waits for open streams (default 30).") var gracePeriod: Double?
    @Option(name: .customLong("tcp-keepalive"),
            help: "Seconds of silence before an app socket is probed; an app gone without a FIN is dropped after twice that (default 60, 0: never).")
    var tcpKeepAlive: Int?
    @Option(name: .customLong("send-timeout"),
            help: "Seconds the app may take none of a tunnel's upload before the tunnel is reset (default 60, 0: never).")
    var sendTimeout: Double?
    @Option(name: .customLong("handshake-timeout"),
            help: "Seconds a browser has to finish its TLS handshake inside a tcp:// or http:// tunnel before the tunnel is reset (default 10).")
    var handshakeTimeout: Double?
    @Option(name: .customLong("idle-timeout"),
            help: "Seconds a tunnel may carry nothing either way before it is reset (default 300, 0: never).")
    var idleTimeout: Double?
    @Option(name: .customLong("admin-listen"),
            help: "Admin HTTP listener (/healthz, /readyz, /metrics, /status), HOST:PORT, or 'off' (default 127.0.0.1:9091).")
    var adminListen: String?
    @Option(help: "Event-loop threads (default 1).") var threads: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error (default info).") var logLevel: String?
    @Option(name: .customLong("log-format"), help: "logfmt (key=value lines) or json (one JSON object a line) (default logfmt).") var logFormat: String?

    static let keys: Set<String> = ["relay", "relay-hostname", "relay-ca", "cert", "key", "tenant-cert", "tenant-key",
                                    "upstream", "reconnect-base", "reconnect-max", "ping-interval", "ping-timeout",
                                    "grace-period", "log-level", "log-format", "threads", "tcp-keepalive", "send-timeout",
                                    "tenant-name", "relay-public-key", "relay-url", "session-lifetime", "handshake-timeout", "idle-timeout",
                                    "admin-listen"]

    func run() async throws {
        PrometheusExport.bootstrap()
        SocketTuning.tuneAllocator()
        raiseOpenFileLimit()
        let configuration: AgentConfiguration
        let logger: Logger
        let threadCount: Int
        do {
            let file = try ConfigFile.load(config, knownKeys: Self.keys)
            // Every stream of a relay connection lives on that connection's loop, so more loops
            // only serve the overlap of a drain; one avoids idle threads (docs/performance.md).
            threadCount = try file.threadCount(flag: threads, default: 1)
            logger = try makeLogger(label: "agent", level: file.string("log-level", flag: logLevel),
                                    format: file.string("log-format", flag: logFormat))
            configuration = try makeConfiguration(file)
        } catch {
            throw ValidationError("\(error)")
        }
        // The command owns the event loops: the agent never shuts down a group it is handed.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threadCount)
        let agent: Agent
        let adminAddress: SocketAddress?
        do {
            var frontKeys: HTTPFrontKeys? = nil
            if case .http = configuration.upstream, let path = configuration.relayPublicKeyPath {
                frontKeys = try await HTTPFrontKeys.load(relayPublicKeyPath: path, sessionLifetime: configuration.sessionLifetime)
            }
            agent = try Agent(configuration: configuration, logger: logger,
                              group: group, frontKeys: frontKeys)
            adminAddress = try await agent.startAdmin()
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        // SIGHUP (systemd's ExecReload) reloads the certificates: taken over before the
        // ready line and READY=1, after which it may come.
        ProcessSignals.on(SIGHUP) { agent.reloadCertificates() }
        agent.start()
        let admin = adminAddress.map { " admin=\(HostPort.describe($0))" } ?? ""
        announce("agent started tenant=\(agent.tenant) relay=\(configuration.relayHost):\(configuration.relayPort)\(admin)")
        // Ready once dialling: an agent whose relay is down is a healthy service that keeps
        // trying (STATUS says so); holding READY=1 until connected would make systemd fail it.
        SystemdNotify.send(["READY=1", "STATUS=serving tenant \(agent.tenant) through \(configuration.relayHost):\(configuration.relayPort)"])
        // SIGTERM/SIGINT → the group's graceful shutdown → `Agent.run` sends GOAWAY and drains.
        try await ServiceRunner.run([agent], logger: logger) {
            SystemdNotify.send(["STOPPING=1", "STATUS=draining: open tunnels may finish within the grace period"])
        }
        try? await group.shutdownGracefully()
    }


    private func makeConfiguration(_ file: ConfigFile) throws -> AgentConfiguration {
        let relay = try HostPort.parse(try file.required("relay", flag: self.relay))
        guard let relayHostname = HostName.normalize(try file.required("relay-hostname", flag: relayHostname)) else {
            throw ConfigFile.Error(description: "--relay-hostname must be a DNS name")
        }
        let upstream = try Upstream.parse(try file.required("upstream", flag: upstream))
        let tenantNames = (tenantName.isEmpty ? file.string("tenant-name", flag: nil).map { [$0] } ?? [] : tenantName)
            .flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for name in tenantNames where HostName.normalize(name.hasPrefix("*.") ? String(name.dropFirst(2)) : name) == nil {
            throw ConfigFile.Error(description: "--tenant-name must be a DNS name, got '\(name)'")
        }
        // The tenant key is needed only where the agent terminates the browser's TLS; with
        // tls:// the names come from --tenant-cert or --tenant-name (issue 13, item 6).
        let tenantCertificate = upstream.terminatesTLS ? try file.requiredPath("tenant-cert", flag: tenantCert)
                                                       : file.path("tenant-cert", flag: tenantCert)
        let tenantKey = upstream.terminatesTLS ? try file.requiredPath("tenant-key", flag: self.tenantKey) : nil
        if !upstream.terminatesTLS && tenantCertificate == nil && tenantNames.isEmpty {
            throw ConfigFile.Error(description: "tls:// needs --tenant-cert or --tenant-name (the names browsers may ask for)")
        }
        var configuration = AgentConfiguration(
            relayHost: relay.host, relayPort: relay.port, relayHostname: relayHostname,
            relayCAPath: try file.requiredPath("relay-ca", flag: relayCA),
            certificatePath: try file.requiredPath("cert", flag: cert), privateKeyPath: try file.requiredPath("key", flag: key),
            tenantCertificatePath: tenantCertificate, tenantKeyPath: tenantKey, upstream: upstream)
        configuration.tenantNames = tenantNames
        let adminText = file.string("admin-listen", flag: adminListen) ?? "127.0.0.1:9091"
        if adminText != "off" {
            let admin = try HostPort.parse(adminText)
            configuration.adminHost = admin.host
            configuration.adminPort = admin.port
        }
        if case .http = upstream {
            configuration.relayPublicKeyPath = try file.requiredPath("relay-public-key", flag: relayPublicKey)
            let relayURL = try file.required("relay-url", flag: relayURL)
            guard relayURL.hasPrefix("https://") || relayURL.hasPrefix("http://"), relayURL.count > 8 else {
                throw ConfigFile.Error(description: "--relay-url must be an https:// URL, got '\(relayURL)'")
            }
            configuration.relayURL = relayURL
            configuration.sessionLifetime = try file.double("session-lifetime", flag: sessionLifetime, default: 28_800, in: 60...2_592_000)
        }
        configuration.reconnectBase = try file.double("reconnect-base", flag: reconnectBase, default: 0.5, in: 0.01...3600)
        configuration.reconnectMax = try file.double("reconnect-max", flag: reconnectMax, default: 30, in: 0.01...86_400)
        configuration.gracePeriod = .fractionalSeconds(try file.double("grace-period", flag: gracePeriod, default: 30, in: 0...86_400))
        configuration.tcpKeepAlive = Int(try file.double("tcp-keepalive", flag: tcpKeepAlive.map(Double.init), default: 60, in: 0...7200).rounded(.up))
        configuration.sendTimeout = try file.secondsOrNever("send-timeout", flag: sendTimeout, default: 60)
        configuration.handshakeTimeout = .fractionalSeconds(try file.double("handshake-timeout", flag: handshakeTimeout, default: 10, in: 0.1...3600))
        configuration.idleTimeout = try file.secondsOrNever("idle-timeout", flag: idleTimeout, default: 300)
        configuration.http2.pingInterval = .fractionalSeconds(try file.double("ping-interval", flag: pingInterval, default: 15, in: 0.1...3600))
        configuration.http2.pingTimeout = .fractionalSeconds(try file.double("ping-timeout", flag: pingTimeout, default: 10, in: 0.1...3600))
        return configuration
    }
}
