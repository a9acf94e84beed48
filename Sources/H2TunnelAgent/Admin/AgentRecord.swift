import Foundation
import H2TunnelCore
import NIOConcurrencyHelpers
import NIOCore

/// What `/status` and `agent status` report beyond the phase: which relay connections are
/// up (address, since when), the tunnels in flight, and the last thing that went wrong.
/// Written at connection and tunnel events, never per byte.
final class AgentRecord: Sendable {
    struct Connection: Equatable {
        var since: Date
        /// The relay instance's address as this connection reached it (IP and port).
        var address: String?
        /// The relay instance's `--instance-name`; nil until its first stream told it.
        var instance: String?
    }

    private struct State {
        var connections: [Int: Connection] = [:]
        var openTunnels = 0
        var lastError: String?
    }
    private let state = NIOLockedValueBox(State())

    /// Relay connection `session` is up (its HTTP/2 settings exchanged).
    func connected(session: Int, address: SocketAddress?) {
        let count = state.withLockedValue { state in
            state.connections[session] = Connection(since: Date(), address: address.map { HostPort.describe($0) })
            return state.connections.count
        }
        AgentMetrics.relayConnections(count)
    }

    /// Relay connection `session` named its relay instance (`TunnelProtocol.relayInstanceHeader`).
    func learned(instance: String, session: Int) {
        state.withLockedValue { $0.connections[session]?.instance = instance }
    }

    /// Relay connection `session` closed (whether or not it was ever up).
    func disconnected(session: Int) {
        let count = state.withLockedValue { state -> Int? in
            guard state.connections.removeValue(forKey: session) != nil else { return nil }
            return state.connections.count
        }
        if let count { AgentMetrics.relayConnections(count) }
    }

    /// A one-line description of what failed (a dial, a refused handshake, a lost connection).
    func failed(_ text: String) {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        state.withLockedValue { $0.lastError = line }
    }

    func tunnelOpened() {
        state.withLockedValue { $0.openTunnels += 1 }
        AgentMetrics.tunnelOpened()
    }

    func tunnelClosed(outcome: String, bytesUp: Int, bytesDown: Int) {
        state.withLockedValue { $0.openTunnels -= 1 }
        AgentMetrics.tunnelClosed(outcome: outcome, bytesUp: bytesUp, bytesDown: bytesDown)
    }

    /// The newest connection that is up (the one new tunnels go to), the tunnels in
    /// flight, the last error.
    var snapshot: (current: Connection?, connections: Int, openTunnels: Int, lastError: String?) {
        state.withLockedValue { state in
            let newest = state.connections.keys.max().flatMap { state.connections[$0] }
            return (newest, state.connections.count, state.openTunnels, state.lastError)
        }
    }
}
