import Foundation
import H2TunnelCore
import NIOCore

extension Agent {
    /// Binds the admin listener (`AgentConfiguration.adminHost/adminPort`): `/healthz`,
    /// `/readyz`, `/metrics`, `/status`. Nil when it is off. Call before `start()`; a second
    /// call returns the address already bound.
    public func startAdmin() async throws -> SocketAddress? {
        guard let host = configuration.adminHost else { return nil }
        // The gauge is there (0) before the first connection: "down" is a value, not a gap.
        AgentMetrics.relayConnections(record.snapshot.connections)
        return try await admin.bind(group: group, host: host, port: configuration.adminPort) { [self] path in
            await respond(to: path)
        }
    }

    /// What `/status` and `agent status` show.
    public var status: AgentStatus {
        let snapshot = record.snapshot
        let formatter = ISO8601DateFormatter()
        return AgentStatus(tenant: tenant, connected: snapshot.current != nil,
                           relay: "\(configuration.relayHost):\(configuration.relayPort)",
                           relayAddress: snapshot.current?.address, relayInstance: snapshot.current?.instance,
                           connectedSince: snapshot.current.map { formatter.string(from: $0.since) },
                           openStreams: snapshot.openTunnels, lastError: snapshot.lastError, phase: phase.current.rawValue)
    }

    func respond(to path: String) async -> AdminResponse {
        switch path {
        case "/healthz": .text("ok")
        case "/readyz": readiness()
        case "/metrics": .metrics()
        case "/status": .json(status.json)
        default: .notFound
        }
    }

    /// Ready: serving, with a relay connection up. Else 503 and why, in one line.
    private func readiness() -> AdminResponse {
        let phase = phase.current
        let snapshot = record.snapshot
        switch phase {
        case .ready where snapshot.current != nil:
            return .text("ready")
        case .starting, .ready:
            let why = snapshot.lastError.map { ": \($0)" } ?? ""
            return .text("not connected to the relay\(why)", status: .serviceUnavailable)
        case .draining, .stopped:
            return .text(phase.rawValue, status: .serviceUnavailable)
        }
    }
}
