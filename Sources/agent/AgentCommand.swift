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
        discussion: AgentSettings.table.help + """


            Example:
              agent run --relay relay.example.com:443 \\
                --relay-hostname agents.relay.example.com --relay-ca relay-ca.pem \\
                --cert agent.pem --key agent.key --tenant-cert tenant.pem \\
                --tenant-key tenant.key --upstream tcp://127.0.0.1:8080

            The same as a file, with one setting from the environment:
              # /etc/h2tunnel/agent.yaml
              relay: relay.example.com:443
              relay-hostname: agents.relay.example.com
              relay-ca: relay-ca.pem     # relative: next to agent.yaml
              cert: agent.pem
              key: agent.key
              tenant-cert: tenant.pem
              tenant-key: tenant.key

              H2TUNNEL_UPSTREAM=tcp://127.0.0.1:8080 agent run --config agent.yaml
            """)

    /// `run`'s flags, read against `AgentSettings.table`, which also makes `--help`'s list.
    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() async throws {
        PrometheusExport.bootstrap()
        SocketTuning.tuneAllocator()
        raiseOpenFileLimit()
        let configuration: AgentConfiguration
        let logger: Logger
        let threadCount: Int
        do {
            let settings = try AgentSettings.table.resolve(arguments: arguments, environment: ProcessInfo.processInfo.environment)
            threadCount = settings[AgentSettings.threads]
            logger = try makeLogger(label: "agent", level: settings[AgentSettings.logLevel], format: settings[AgentSettings.logFormat])
            configuration = try AgentSettings.configuration(settings)
        } catch {
            SettingError.report(error)
            throw ExitCode.validationFailure
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
}
