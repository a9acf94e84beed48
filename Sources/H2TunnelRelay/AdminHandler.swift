import Foundation
import H2TunnelCore
import H2TunnelStore

/// The relay's admin listener (plain HTTP, loopback by default), served by
/// `AdminHTTPHandler`: `/healthz` (the process answers), `/readyz` (a load balancer may
/// send it connections), `/metrics` (Prometheus text), `/agents` (JSON).
struct AdminHandler: Sendable {
    struct AgentEntry: Codable {
        var tenant: String
        var connection: Int
        var remote: String
        /// SHA-256 of the agent's client certificate, lower-case hex.
        var fingerprint: String
        var connectedSince: String
        var openStreams: Int
        var stalledResets: Int
        /// Smallest PING round trip to the agent, in milliseconds.
        var roundTripMs: Double?
    }

    let registry: AgentRegistry
    let phase: ServicePhase
    let store: (any RelayStore)?

    func respond(to path: String) async -> AdminResponse {
        switch path {
        case "/healthz": .text("ok")
        case "/readyz": await readiness()
        case "/metrics": .metrics()
        case "/agents": .json(agentsJSON())
        default: .notFound
        }
    }

    /// 200 "ready" only while serving and, with a store, while the store answers: a load
    /// balancer stops sending new connections the moment a drain begins (503 "draining"),
    /// long before the listener closes.
    private func readiness() async -> AdminResponse {
        let phase = phase.current
        guard phase == .ready else { return .text(phase.rawValue, status: .serviceUnavailable) }
        if let store {
            do {
                try await store.ping()
            } catch {
                let reason = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
                return .text("store unreachable: \(reason)", status: .serviceUnavailable)
            }
        }
        return .text("ready")
    }

    private func agentsJSON() -> String {
        let formatter = ISO8601DateFormatter()
        // Connections whose HTTP/2 is not up yet are left out: they carry nothing yet.
        let entries = registry.all.filter(\.isReady).map {
            AgentEntry(tenant: $0.tenant, connection: $0.id, remote: $0.remote, fingerprint: $0.fingerprint,
                       connectedSince: formatter.string(from: $0.connectedSince), openStreams: $0.openStreams,
                       stalledResets: $0.stalledResets,
                       roundTripMs: $0.roundTrip.map { Double($0.nanoseconds) / 1_000_000 })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(entries), as: UTF8.self)) ?? "[]"
    }
}
