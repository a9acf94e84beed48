import H2TunnelCore
import H2TunnelRelayWeb
import H2TunnelTLS
import Logging
import NIOCore

/// The relay's own hostname, after TLS: waits for the handshake, then hands the
/// connection to the site (`RelaySite`), HTTP/2 or HTTP/1.1 as ALPN chose, and steps
/// aside. Installed in the same call as the handshake completes, so the request bytes
/// that came with the last handshake flight reach the HTTP handlers.
final class RelaySiteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let site: RelaySite
    /// The browser's address (the peer, or the client a trusted balancer named).
    private let client: SocketAddress?
    /// The port the browser connected to, when a balancer's PROXY header said (else nil:
    /// the relay's own).
    private let connectedPort: Int?
    /// The connection's logger (metadata `conn`).
    private let logger: Logger
    /// Made when the ClientHello was complete: the handshake's latency starts here.
    private let started = NIODeadline.now()

    init(site: RelaySite, client: SocketAddress?, connectedPort: Int?, logger: Logger) {
        self.site = site
        self.client = client
        self.connectedPort = connectedPort
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted {
            RelayMetrics.tlsHandshake(endpoint: "site", started: started)
            site.serve(channel: context.channel, alpn: handshake.alpn, client: client, connectedPort: connectedPort,
                       logger: logger)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The browser left before the handshake finished: nothing to serve.
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Plaintext before the handshake event cannot happen (TLS); drop it if it did.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
