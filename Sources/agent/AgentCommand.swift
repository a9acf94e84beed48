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
        subcommands: [Run.self])
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
    @Option(name: .customLong("tenant-cert"), help: "The certificate browsers see (PEM).") var tenantCert: String?
    @Option(name: .customLong("tenant-key"), help: "Private key (PEM) of --tenant-cert; it never leaves this host.") var tenantKey: String?
    @Option(help: "tcp://HOST:PORT (terminate TLS, forward plaintext) or tls://HOST:PORT (pass TLS through).") var upstream: String?
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
    @Option(help: "Event-loop threads (default 1).") var threads: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error (default info).") var logLevel: String?

    static let keys: Set<String> = ["relay", "relay-hostname", "relay-ca", "cert", "key", "tenant-cert", "tenant-key",
                                    "upstream", "reconnect-base", "reconnect-max", "ping-interval", "ping-timeout",
                                    "grace-period", "log-level", "threads", "tcp-keepalive", "send-timeout"]

    func run() async throws {
        SocketTuning.tuneAllocator()
        raiseOpenFileLimit()
        let configuration: AgentConfiguration
        let logger: Logger
        let threadCount: Int
        do {
            let file = try ConfigFile.load(config, knownKeys: Self.keys)
            // Every stream of a relay connection lives on that connection's loop, so more loops
            // only serve the overlap of a drain; one avoids idle threads (README "Performance").
            threadCount = try file.threadCount(flag: threads, default: 1)
            logger = try makeLogger(label: "agent", level: file.string("log-level", flag: logLevel))
            configuration = try makeConfiguration(file)
        } catch {
            throw ValidationError("\(error)")
        }
        let agent: Agent
        do {
            agent = try Agent(configuration: configuration, logger: logger,
                              group: MultiThreadedEventLoopGroup(numberOfThreads: threadCount))
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        agent.start()
        announce("agent started tenant=\(agent.tenant) relay=\(configuration.relayHost):\(configuration.relayPort)")
        await waitForTermination()
        await agent.shutdown()
    }


    private func makeConfiguration(_ file: ConfigFile) throws -> AgentConfiguration {
        let relay = try HostPort.parse(try file.required("relay", flag: self.relay))
        guard let relayHostname = HostName.normalize(try file.required("relay-hostname", flag: relayHostname)) else {
            throw ConfigFile.Error(description: "--relay-hostname must be a DNS name")
        }
        var configuration = AgentConfiguration(
            relayHost: relay.host, relayPort: relay.port, relayHostname: relayHostname,
            relayCAPath: try file.required("relay-ca", flag: relayCA),
            certificatePath: try file.required("cert", flag: cert), privateKeyPath: try file.required("key", flag: key),
            tenantCertificatePath: try file.required("tenant-cert", flag: tenantCert),
            tenantKeyPath: try file.required("tenant-key", flag: tenantKey),
            upstream: try Upstream.parse(try file.required("upstream", flag: upstream)))
        configuration.reconnectBase = try file.double("reconnect-base", flag: reconnectBase, default: 0.5, in: 0.01...3600)
        configuration.reconnectMax = try file.double("reconnect-max", flag: reconnectMax, default: 30, in: 0.01...86_400)
        configuration.gracePeriod = .fractionalSeconds(try file.double("grace-period", flag: gracePeriod, default: 30, in: 0...86_400))
        configuration.tcpKeepAlive = Int(try file.double("tcp-keepalive", flag: tcpKeepAlive.map(Double.init), default: 60, in: 0...7200).rounded(.up))
        configuration.sendTimeout = try file.secondsOrNever("send-timeout", flag: sendTimeout, default: 60)
        configuration.http2.pingInterval = .fractionalSeconds(try file.double("ping-interval", flag: pingInterval, default: 15, in: 0.1...3600))
        configuration.http2.pingTimeout = .fractionalSeconds(try file.double("ping-timeout", flag: pingTimeout, default: 10, in: 0.1...3600))
        return configuration
    }
}
