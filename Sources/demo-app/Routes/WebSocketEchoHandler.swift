import NIOCore
import NIOWebSocket

/// `GET /ws/echo` after the upgrade: every data frame comes back as it came
/// (same opcode, same FIN, so fragmented messages stay fragmented), pings are
/// answered (RFC 6455 §5.5.2), and a close is echoed before closing (§5.5.1).
final class WebSocketEchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Larger than NIO's 16 KiB default so tests can echo sizeable messages,
    /// still a bound on what one frame may make us hold.
    static let maxFrameSize = 1 << 20

    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            guard !closing else { return }
            /// Server frames are never masked (§5.1), so send the unmasked payload.
            let reply = WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: frame.unmaskedData)
            context.write(wrapOutboundOut(reply), promise: nil)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.write(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            guard !closing else {
                /// The peer answered our close: the exchange is over (§7.1.1).
                context.close(promise: nil)
                return
            }
            closing = true
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(close)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}
