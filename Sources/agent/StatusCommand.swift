import ArgumentParser
import Foundation
import H2TunnelAgent
import H2TunnelCore

/// `agent status`: asks a running agent, through its admin listener, whether it is connected.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether the running agent is connected to its relay (reads its admin listener's /status).",
        discussion: """
            Prints: connected or not, the tenant, the relay instance and since when, open streams,
            the last error, the phase.
            Exit status: 0 connected, 1 not connected, 2 the admin listener does not answer.
            """)

    @Option(help: "The agent's admin listener (its --admin-listen), HOST:PORT; default H2TUNNEL_ADMIN_LISTEN, else 127.0.0.1:9091.")
    var admin: String?
    @Flag(help: "Print the /status JSON as it is.") var json = false

    func run() async throws {
        // Run beside the agent (same container, same environment), the variable it reads
        // names the listener too.
        let admin = admin ?? ProcessInfo.processInfo.environment["H2TUNNEL_ADMIN_LISTEN"] ?? "127.0.0.1:9091"
        guard admin != "off" else {
            StandardStream.error.write("agent status: the agent's admin listener is off (--admin-listen off): nothing to ask\n")
            throw ExitCode(2)
        }
        let address: (host: String, port: Int)
        do {
            address = try HostPort.parse(admin)
        } catch {
            throw ValidationError("--admin: \(error)")
        }
        let status: AgentStatus
        do {
            status = try await AgentStatusClient.fetch(host: address.host, port: address.port)
        } catch {
            StandardStream.error.write("agent status: \(error)\n")
            throw ExitCode(2)
        }
        StandardStream.output.write((json ? status.json : status.lines.joined(separator: "\n")) + "\n")
        if !status.connected { throw ExitCode(1) }
    }
}
