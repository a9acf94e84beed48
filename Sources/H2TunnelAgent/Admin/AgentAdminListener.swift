import H2TunnelCore
import NIOConcurrencyHelpers
import NIOCore

/// The agent's own admin listener (plain HTTP/1.1, loopback by default, `--admin-listen`):
/// bound before the first dial, open through the drain (`/readyz` says 503 meanwhile),
/// closed last by `Agent.shutdown()`.
final class AgentAdminListener: Sendable {
    private let channel = NIOLockedValueBox<Channel?>(nil)

    struct BindError: Error, CustomStringConvertible {
        var description: String
    }

    /// Binds once; a second call returns the address already bound.
    func bind(group: EventLoopGroup, host: String, port: Int, route: @escaping AdminHTTPHandler.Route) async throws -> SocketAddress? {
        if let bound = channel.withLockedValue({ $0 }) { return bound.localAddress }
        let listener: Channel
        do {
            listener = try await AdminHTTPHandler.listen(group: group, host: host, port: port, route: route)
        } catch {
            let address = HostPort.join(host: host, port: port)
            let reason = ErrorReason.text(error)
            throw BindError(description: "cannot listen on \(address) (--admin-listen): \(reason) — choose another --admin-listen, or off")
        }
        channel.withLockedValue { $0 = listener }
        return listener.localAddress
    }

    func close() async {
        try? await channel.withLockedValue { channel in defer { channel = nil }; return channel }?.close()
    }
}
