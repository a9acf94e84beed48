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
        discussion: RelaySettings.table.help + """


            Example:
              relay run --listen 0.0.0.0:443 --hostname relay.example.com \\
                --cert relay.pem --key relay.key --agent-ca agent-ca.pem \\
                --agent-hostname agents.relay.example.com --tenant-domain tunnel.example.com

            The same as a file, with one setting from the environment:
              # /etc/h2tunnel/relay.yaml
              listen: 0.0.0.0:443
              hostname: relay.example.com
              cert: relay.pem      # relative: next to relay.yaml
              key: relay.key
              agent-ca: agent-ca.pem
              agent-hostname: agents.relay.example.com
              proxy-protocol-from: [10.0.0.0/8]

              H2TUNNEL_TENANT_DOMAIN=tunnel.example.com relay run --config relay.yaml
            """)

    /// `run`'s flags, read against `RelaySettings.table`, which also makes `--help`'s list.
    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() async throws {
        PrometheusExport.bootstrap()
        SocketTuning.tuneAllocator()
        raiseOpenFileLimit()
        let configuration: RelayConfiguration
        let logger: Logger
        let threadCount: Int
        do {
            let settings = try RelaySettings.table.resolve(arguments: arguments, environment: ProcessInfo.processInfo.environment)
            threadCount = settings[RelaySettings.threads]
            logger = try makeLogger(label: "relay", level: settings[RelaySettings.logLevel], format: settings[RelaySettings.logFormat])
            configuration = try RelaySettings.configuration(settings)
        } catch {
            SettingError.report(error)
            throw ExitCode.validationFailure
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
}
