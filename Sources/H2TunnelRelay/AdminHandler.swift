import Foundation
import NIOCore
import NIOHTTP1

/// The admin listener (plain HTTP, loopback by default): `GET /healthz`, `GET /agents`.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

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

    private let registry: AgentRegistry
    private var path: String?

    init(registry: AgentRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.method == .GET ? String(head.uri.split(separator: "?").first ?? "") : nil
        case .body:
            break
        case .end:
            switch path {
            case "/healthz":
                respond(context: context, status: .ok, type: "text/plain", body: "ok\n")
            case "/agents":
                respond(context: context, status: .ok, type: "application/json", body: agentsJSON())
            default:
                respond(context: context, status: .notFound, type: "text/plain", body: "not found\n")
            }
        }
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

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, type: String, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
