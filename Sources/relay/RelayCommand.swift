import ArgumentParser
import Foundation
import H2TunnelCore
import H2TunnelRelay
import Logging
import NIOCore
import NIOPosix

@main
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "The H2Tunnel relay: routes browsers by SNI to their company's agent, TLS end to end.",
        subcommands: [Run.self, UserCommand.self, TenantCommand.self, GrantCommand.self, RevokeCommand.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the relay.",
        discussion: """
            Every flag can also be set in a JSON config file (--config) under its long name,
            e.g. {"listen": "0.0.0.0:443", "tenant-domain": "tunnel.example.com"}. Flags win.

            Example:
              relay run --listen 0.0.0.0:443 --hostname relay.example.com \\
                --cert relay.pem --key relay.key --agent-hostname agents.relay.example.com \\
                --agent-ca agent-ca.pem --tenant-domain tunnel.example.com
            """)

    @Option(help: "JSON config file; command-line flags override it.") var config: String?
    @Option(help: "Public TLS port, HOST:PORT (default 0.0.0.0:443).") var listen: String?
    @Option(help: "The relay's own hostname (its sign-in site).") var hostname: String?
    @Option(help: "Certificate chain (PEM) valid for --hostname and --agent-hostname.") var cert: String?
    @Option(help: "Private key (PEM) of --cert.") var key: String?
    @Option(name: .customLong("agent-hostname"), help: "The agent endpoint name (mTLS, ALPN h2).") var agentHostname: String?
    @Option(name: .customLong("agent-ca"), help: "CA (PEM) that signs agent client certificates.") var agentCA: String?
    @Option(name: .customLong("tenant-domain"), help: "Tenants are <id>.<tenant-domain>.") var tenantDomain: String?
    @Option(name: .customLong("admin-listen"), help: "Admin HTTP listener, HOST:PORT, or 'off' (default 127.0.0.1:9090).") var adminListen: String?
    @Option(name: .customLong("client-hello-timeout"), help: "Seconds a browser has to send its ClientHello (default 10).") var clientHelloTimeout: Double?
    @Option(name: .customLong("ping-interval"), help: "Seconds between PINGs on agent connections (default 15).") var pingInterval: Double?
    @Option(name: .customLong("ping-timeout"), help: "Seconds a PING may stay unanswered before the agent is dropped (default 10).") var pingTimeout: Double?
    @Option(name: .customLong("grace-period"), help: "Seconds a shutdown waits for open tunnels (default 30).") var gracePeriod: Double?
    @Option(name: .customLong("tcp-keepalive"),
            help: "Seconds of silence before a browser's socket is probed; a browser gone without a FIN is dropped after twice that (default 60, 0: never).")
    var tcpKeepAlive: Int?
    @Option(name: .customLong("send-timeout"),
            help: "Seconds a browser may take none of its tunnel's output before the tunnel is reset (default 60, 0: never).")
    var sendTimeout: Double?
    @Option(name: .customLong("max-tunnels-per-address"),
            help: "Tunnels one browser address (an IPv6 /64 as one) may hold open at once; more are closed unanswered (default 2048, 0: no cap).")
    var maxTunnelsPerAddress: Int?
    @Option(name: .customLong("agent-connection-streams"),
            help: "Browser connections one agent connection carries before the agent is asked for a fresh one (default and most 1,073,641,824: HTTP/2 stream IDs are never reused).")
    var agentConnectionStreams: Int?
    @Option(help: "Event-loop threads (default: half the cores, at least 1).") var threads: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error (default info).") var logLevel: String?
    @Option(name: .customLong("log-format"), help: "logfmt (key=value lines) or json (one JSON object a line) (default logfmt).") var logFormat: String?
    @Option(name: .customLong("signing-key"),
            help: "Ed25519 private key (PEM) that signs sign-in tickets (Tools/gen-pki makes signing.key); needed with --store.")
    var signingKey: String?
    @Option(name: .customLong("public-port"),
            help: "The port browsers use in the links the sign-in site makes (default: the port the browser connected to; 443 is left out).")
    var publicPort: Int?
    @Option(name: .customLong("agent-deny-fingerprint"),
            help: "Refuse the agent certificate with this SHA-256 fingerprint (hex, colons allowed); repeatable. In the config file: a string, several separated by commas.")
    var agentDenyFingerprint: [String] = []
    @Option(name: .customLong("agent-deny-file"),
            help: "File of agent certificate fingerprints to refuse, one a line, # comments; read again on SIGHUP, cutting off live connections it names.")
    var agentDenyFile: String?
    @Option(name: .customLong("max-agent-connections-per-tenant"),
            help: "Agent connections one tenant may hold at once; a further one is closed after its TLS handshake (default 4).")
    var maxAgentConnectionsPerTenant: Int?
    @Option(name: .customLong("proxy-protocol-from"),
            help: "Source network (CIDR) whose connections must start with a PROXY protocol v1 or v2 header (a load balancer); repeatable. In the config file: a string, several separated by commas.")
    var proxyProtocolFrom: [String] = []
    @Option(help: "SQLite store of users, tenants and grants (created on first run; see `relay user --help`). With it, browsers for tenants not in it are refused as unknown.")
    var store: String?

    static let keys: Set<String> = ["listen", "hostname", "cert", "key", "agent-hostname", "agent-ca", "tenant-domain",
                                    "admin-listen", "client-hello-timeout", "ping-interval", "ping-timeout",
                                    "grace-period", "log-level", "log-format", "threads", "agent-connection-streams", "tcp-keepalive",
                                    "send-timeout", "store", "signing-key", "public-port", "max-tunnels-per-address",
                                    "agent-deny-fingerprint", "agent-deny-file", "max-agent-connections-per-tenant",
                                    "proxy-protocol-from"]

    func run() async throws {
        PrometheusExport.bootstrap()
        SocketTuning.tuneAllocator()
        raiseOpenFileLimit()
        let configuration: RelayConfiguration
        let logger: Logger
        let threadCount: Int
        do {
            let file = try ConfigFile.load(config, knownKeys: Self.keys)
            // A browser's bytes hop to its agent connection's loop; fewer loops mean fewer hops,
            // and the kernel's network stack needs cores too (docs/performance.md).
            threadCount = try file.threadCount(flag: threads, default: max(1, System.coreCount / 2))
            logger = try makeLogger(label: "relay", level: file.string("log-level", flag: logLevel),
                                    format: file.string("log-format", flag: logFormat))
            configuration = try makeConfiguration(file)
        } catch {
            throw ValidationError("\(error)")
        }
        // The command owns the event loops: the relay never shuts down a group it is handed.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threadCount)
        let relay = Relay(configuration: configuration, logger: logger, group: group)
        let addresses: (public: SocketAddress, admin: SocketAddress?)
        do {
            addresses = try await relay.start()
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        let admin = addresses.admin.map { " admin=\(HostPort.describe($0))" } ?? ""
        configuration.agentDenyList.reloadOnHangup(registry: relay.registry, logger: logger)
        announce("relay ready public=\(HostPort.describe(addresses.public))\(admin)")
        SystemdNotify.send(["READY=1", "STATUS=serving on \(HostPort.describe(addresses.public))"])
        // SIGTERM/SIGINT → the group's graceful shutdown → `Relay.run` drains (`/readyz` 503 at once).
        try await ServiceRunner.run([relay], logger: logger) {
            SystemdNotify.send(["STOPPING=1", "STATUS=draining: open tunnels may finish within the grace period"])
        }
        try? await group.shutdownGracefully()
    }


    private func makeConfiguration(_ file: ConfigFile) throws -> RelayConfiguration {
        let listen = try HostPort.parse(file.string("listen", flag: self.listen) ?? "0.0.0.0:443")
        let adminText = file.string("admin-listen", flag: adminListen) ?? "127.0.0.1:9090"
        let admin = adminText == "off" ? nil : try HostPort.parse(adminText)
        guard let hostname = HostName.normalize(try file.required("hostname", flag: hostname)),
              let agentHostname = HostName.normalize(try file.required("agent-hostname", flag: agentHostname)),
              let tenantDomain = HostName.normalize(try file.required("tenant-domain", flag: tenantDomain))
        else { throw ConfigFile.Error(description: "--hostname, --agent-hostname and --tenant-domain must be DNS names") }
        var configuration = RelayConfiguration(
            listenHost: listen.host, listenPort: listen.port, hostname: hostname,
            certificatePath: try file.requiredPath("cert", flag: cert), privateKeyPath: try file.requiredPath("key", flag: key),
            agentHostname: agentHostname, agentCAPath: try file.requiredPath("agent-ca", flag: agentCA),
            tenantDomain: tenantDomain, adminHost: admin?.host, adminPort: admin?.port ?? 0)
        configuration.clientHelloTimeout = .fractionalSeconds(try file.double("client-hello-timeout", flag: clientHelloTimeout, default: 10, in: 0.1...3600))
        configuration.gracePeriod = .fractionalSeconds(try file.double("grace-period", flag: gracePeriod, default: 30, in: 0...86_400))
        configuration.tcpKeepAlive = Int(try file.double("tcp-keepalive", flag: tcpKeepAlive.map(Double.init), default: 60, in: 0...7200).rounded(.up))
        configuration.sendTimeout = try file.secondsOrNever("send-timeout", flag: sendTimeout, default: 60)
        // An agent that keeps a tunnel's window shut is reset like a browser that stops reading,
        // after twice the time: a working agent resets a tunnel whose app stopped reading after
        // its own --send-timeout, and says so; the relay acts only where the agent does not.
        configuration.http2.peerWindowTimeout = configuration.sendTimeout.map { .nanoseconds($0.nanoseconds * 2) }
        configuration.maxTunnelsPerAddress = Int(try file.double(
            "max-tunnels-per-address", flag: maxTunnelsPerAddress.map(Double.init), default: 2048, in: 0...1_000_000))
        configuration.storePath = file.path("store", flag: store)
        configuration.signingKeyPath = file.path("signing-key", flag: signingKey)
        if configuration.storePath != nil, configuration.signingKeyPath == nil {
            throw ConfigFile.Error(description: "--store needs --signing-key (the Ed25519 key that signs sign-in tickets)")
        }
        if file.string("public-port", flag: publicPort.map(String.init)) != nil {
            let port = try file.double("public-port", flag: publicPort.map(Double.init), default: 443, in: 1...65_535)
            guard port == port.rounded() else { throw ConfigFile.Error(description: "--public-port must be a whole number, not \(port)") }
            configuration.publicPort = Int(port)
        }
        let perTenant = try file.double("max-agent-connections-per-tenant",
                                        flag: maxAgentConnectionsPerTenant.map(Double.init), default: 4, in: 1...1000)
        guard perTenant == perTenant.rounded() else {
            throw ConfigFile.Error(description: "--max-agent-connections-per-tenant must be a whole number, not \(perTenant)")
        }
        configuration.maxAgentConnectionsPerTenant = Int(perTenant)
        let denyFlags = agentDenyFingerprint.isEmpty
            ? (file.string("agent-deny-fingerprint", flag: nil) ?? "").split(separator: ",").map(String.init)
            : agentDenyFingerprint
        configuration.agentDenyList = try AgentDenyList(flags: denyFlags, file: file.path("agent-deny-file", flag: agentDenyFile))
        configuration.agentDenied = try configuration.agentDenyList.load()
        configuration.proxyProtocolFrom = (proxyProtocolFrom.isEmpty
            ? (file.string("proxy-protocol-from", flag: nil) ?? "").split(separator: ",").map(String.init)
            : proxyProtocolFrom).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        configuration.http2.pingInterval = .fractionalSeconds(try file.double("ping-interval", flag: pingInterval, default: 15, in: 0.1...3600))
        configuration.http2.pingTimeout = .fractionalSeconds(try file.double("ping-timeout", flag: pingTimeout, default: 10, in: 0.1...3600))
        let most = Double(configuration.http2.lifetimeStreams)
        configuration.http2.lifetimeStreams = Int(try file.double(
            "agent-connection-streams", flag: agentConnectionStreams.map(Double.init), default: most, in: 1...most))
        return configuration
    }
}
