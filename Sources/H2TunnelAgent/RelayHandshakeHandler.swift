import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOCore

/// Sits above TLS on the connection to the relay until the handshake is done, then hands
/// it to the HTTP/2 server session. No preface or SETTINGS leave before TLS is up.
final class RelayHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let session: RelaySession
    private let settings: HTTP2Settings
    private let logger: Logger
    private var done = false

    init(session: RelaySession, settings: HTTP2Settings, logger: Logger) {
        self.session = session
        self.settings = settings
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        done = true
        guard handshake.alpn == TunnelProtocol.alpn else {
            logger.error("relay did not negotiate ALPN h2")
            context.close(promise: nil)
            return
        }
        let handler = HTTP2ConnectionHandler(role: .server, settings: settings, eventLoop: context.eventLoop, delegate: session)
        session.attach(handler)
        do {
            try handler.takeOver(from: context)
        } catch {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done {
            done = true
            logger.warning("cannot connect to relay", metadata: ["reason": "\(error)"])
        }
        context.close(promise: nil)
    }
}
