import NIOCore

/// Closes a connection that has sent nothing for a while, whatever state its HTTP/2
/// layer is in. Hummingbird's idle timeout only starts a graceful close (GOAWAY and a
/// PING, RFC 9113 §6.8) and waits for the PING's answer: a client that never answers
/// would keep its socket for good. Any browser answers within a round trip, so a read
/// timeout somewhat longer than the idle timeout (`SiteSettings.silentPeerTimeout`)
/// only ever meets silent peers.
final class CloseWhenQuietHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
