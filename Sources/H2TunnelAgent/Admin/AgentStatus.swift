import Foundation

/// The agent's `/status` answer and what `agent status` prints: connected or not, to which
/// relay instance, since when, the tunnels in flight, the last error. Absent values are
/// JSON `null`, not missing keys, so a script reads every key of every answer.
public struct AgentStatus: Codable, Sendable, Equatable {
    public var tenant: String
    /// A relay connection is up.
    public var connected: Bool
    /// The relay as configured (`--relay`, HOST:PORT).
    public var relay: String
    /// The relay instance the newest connection reached (its IP and port); nil when not connected.
    public var relayAddress: String?
    /// The relay instance's `--instance-name` as it told this connection
    /// (`h2tunnel-relay-instance`); nil until known or when not connected.
    public var relayInstance: String?
    /// ISO 8601, UTC; nil when not connected.
    public var connectedSince: String?
    public var openStreams: Int
    public var lastError: String?
    /// starting, ready, draining or stopped (`ServicePhase`).
    public var phase: String

    public init(tenant: String, connected: Bool, relay: String, relayAddress: String?, relayInstance: String? = nil,
                connectedSince: String?, openStreams: Int, lastError: String?, phase: String) {
        self.tenant = tenant
        self.connected = connected
        self.relay = relay
        self.relayAddress = relayAddress
        self.relayInstance = relayInstance
        self.connectedSince = connectedSince
        self.openStreams = openStreams
        self.lastError = lastError
        self.phase = phase
    }

    private enum CodingKeys: String, CodingKey {
        case tenant, connected, relay, relayAddress, relayInstance, connectedSince, openStreams, lastError, phase
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(connected, forKey: .connected)
        try container.encode(relay, forKey: .relay)
        try container.encode(relayAddress, forKey: .relayAddress)
        try container.encode(relayInstance, forKey: .relayInstance)
        try container.encode(connectedSince, forKey: .connectedSince)
        try container.encode(openStreams, forKey: .openStreams)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(phase, forKey: .phase)
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }

    /// What `agent status` prints, one fact a line.
    public var lines: [String] {
        var lines = [connected ? "connected to relay \(relay)" : "not connected to relay \(relay)"]
        lines.append("tenant: \(tenant)")
        if connected {
            lines.append("relay instance: \(relayInstance ?? "unknown") (\(relayAddress ?? "unknown address"))")
            lines.append("since: \(connectedSince ?? "unknown")")
        }
        lines.append("open streams: \(openStreams)")
        lines.append("last error: \(lastError ?? "none")")
        lines.append("phase: \(phase)")
        return lines
    }
}
