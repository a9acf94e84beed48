import H2TunnelCore
import Logging
import NIOCore

/// The first handler of every public connection: reads the ClientHello without consuming
/// it, then lets `PublicRouter` build the rest of the pipeline for that name and replays
/// the bytes into it. What is not a TLS client, or is too slow, is closed here.
final class ClientHelloSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let router: PublicRouter
    private let parser: ClientHelloParser
    private let timeout: TimeAmount
    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var decided = false

    init(router: PublicRouter, parser: ClientHelloParser = ClientHelloParser(), timeout: TimeAmount) {
        self.router = router
        self.parser = parser
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (sniffer, context) = loopBound.value
            sniffer.refuse(context: context, reason: "timeout", alert: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return }
        var bytes = unwrapInboundIn(data)
        if buffered == nil { buffered = bytes } else { buffered!.writeBuffer(&bytes) }
        // Not before the announced bytes are in (an announced size over the limit goes
        // to the parser at once, which refuses it): one parse per ClientHello, not one
        // per segment of a ClientHello sent a byte at a time.
        let limit = parser.maxHandshakeBytes + 5 * 4
        if let announced = buffered!.withUnsafeReadableBytes({ ClientHelloParser.announcedLength($0) }),
           announced <= limit, buffered!.readableBytes < announced {
            return
        }
        switch parser.parse(buffered!) {
        case .needMore:
            // Records carry at most 16 KiB each; more than that plus headers without a
            // complete ClientHello is already over the limit.
            if buffered!.readableBytes > limit {
                refuse(context: context, reason: "bad-client-hello", alert: nil)
            }
        case .notTLS:
            refuse(context: context, reason: "not-tls", alert: nil)
        case .tooLarge:
            refuse(context: context, reason: "bad-client-hello", alert: nil, detail: "too large")
        case .malformed(let why):
            refuse(context: context, reason: "bad-client-hello", alert: nil, detail: why)
        case .complete(let hello):
            decided = true
            timer?.cancel()
            router.route(hello, bytes: buffered!, context: context, sniffer: self)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, !decided {
            refuse(context: context, reason: "eof", alert: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !decided { decided = true; context.close(promise: nil) } else { context.fireErrorCaught(error) }
    }

    /// Writes the alert (if any), then closes; logged with the reason and the address.
    func refuse(context: ChannelHandlerContext, reason: String, alert: TLSAlert?, detail: String? = nil) {
        decided = true
        timer?.cancel()
        router.logRefusal(reason: reason, detail: detail, remote: context.channel.remoteAddress)
        if let alert {
            let channel = context.channel
            context.writeAndFlush(NIOAny(alert.record(allocator: context.channel.allocator))).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }
}
