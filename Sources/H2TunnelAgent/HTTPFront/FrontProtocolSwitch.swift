import H2TunnelCore
import H2TunnelTLS
import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// Above the browser's TLS: once the handshake says which HTTP the browser speaks (ALPN,
/// RFC 7301), installs Hummingbird's channel for it and steps aside. http/1.1 (and no
/// ALPN) gets HTTP/1.1 with the WebSocket upgrade; h2 gets `FrontHTTP2`.
final class FrontProtocolSwitch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let front: HTTPFront
    private let responder: FrontResponder
    private let logger: Logger

    init(front: HTTPFront, responder: FrontResponder, logger: Logger) {
        self.front = front
        self.responder = responder
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let responder = self.responder
        let respond: HTTPChannelHandler.Responder = { request, writer, channel in
            try await responder.respond(request, writer, channel)
        }
        let channel = context.channel
        let logger = self.logger
        if handshake.alpn == "h2" {
            do {
                try FrontHTTP2.start(channel: channel, responder: respond, logger: logger)
            } catch {
                logger.warning("cannot start HTTP/2", metadata: ["error": "\(error)"])
                context.close(promise: nil)
                return
            }
        } else {
            let http1 = webSocketChannel(respond: respond)
            http1.setup(channel: channel, logger: logger).whenSuccess { value in
                Task { await http1.handle(value: value, logger: logger) }
            }
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // TLSHandler's own words for its `handshakeTimeout` (--handshake-timeout).
        if let error = error as? TLSError, error.description == "TLS handshake timed out" {
            logger.info("tunnel reset: TLS handshake timed out", metadata: ["mode": "http", "browser": "\(responder.browserIP)"])
            AgentMetrics.handshakeTimeout(mode: "http")
        } else {
            logger.debug("browser TLS failed", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    /// HTTP/1.1 with the WebSocket upgrade: a signed-in browser's upgrade is joined to
    /// the app's WebSocket at the same path; without a session the socket is closed at once with 1008.
    private func webSocketChannel(respond: @escaping HTTPChannelHandler.Responder) -> HTTP1WebSocketUpgradeChannel {
        let front = self.front
        let browserIP = responder.browserIP
        return HTTP1WebSocketUpgradeChannel(
            responder: respond,
            configuration: .init(http1: .init(), ws: .init(maxFrameSize: 1 << 20))
        ) { head, _, logger in
            guard let user = await front.sessionUser(head.headerFields) else {
                // Refused as a WebSocket close (RFC 6455 §7.4.1, 1008 policy violation):
                // hummingbird-websocket's own refusal of an upgrade reached no client.
                logger.info("websocket refused: no session", metadata: ["path": "\(head.path ?? "/")"])
                return .upgrade([:]) { _, outbound, _ in
                    try? await outbound.close(.policyViolation, reason: "sign in first")
                }
            }
            var headers = HTTPFields()
            for (name, value) in ProxyHeaders.toApp(head.headerFields, authority: nil, browserIP: browserIP, user: user)
            where !ProxyHeaders.webSocketHandshake.contains(name.lowercased()) {
                if let name = HTTPField.Name(name) { headers.append(HTTPField(name: name, value: value)) }
            }
            let url = front.webSocketURL(path: head.path ?? "/")
            let appHeaders = headers
            return .upgrade([:]) { inbound, outbound, _ in
                await WebSocketBridge.run(browserIn: inbound, browserOut: outbound, url: url, headers: appHeaders,
                                          group: front.eventLoopGroup, logger: logger)
            }
        }
    }
}
