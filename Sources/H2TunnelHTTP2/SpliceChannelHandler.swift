import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The channel end of a `StreamSplice`: reads in bursts, FIN and reset detection, and the
/// send timeout.
public final class SpliceChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer

    private let splice: StreamSplice
    private var batch: [ByteBuffer] = []
    private var sawReset = false
    /// A socket that takes none of our output for this long (its queue stays above NIO's
    /// high watermark the whole time) is reset, and its stream with it: a browser that
    /// stopped reading (or an app that stopped reading an upload) would otherwise hold its
    /// queued bytes, up to a stream window, for good. nginx's `send_timeout` is the same
    /// rule. nil: never.
    private let sendTimeout: TimeAmount?
    /// Told (on the channel's loop) when the send timeout closed the socket, for the log.
    private let onSendTimeout: (() -> Void)?
    private var unwritableSince: NIODeadline?
    /// At most one pending check; not re-armed on every writability change, which a fast
    /// transfer makes thousands of times a second.
    private var sendCheck: Scheduled<Void>?

    public init(splice: StreamSplice, sendTimeout: TimeAmount? = nil, onSendTimeout: (() -> Void)? = nil) {
        self.splice = splice
        self.sendTimeout = sendTimeout
        self.onSendTimeout = onSendTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        splice.attach(channel: context.channel)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        batch.append(unwrapInboundIn(data))
    }

    /// One hop to the stream's loop per read burst, not one per read.
    public func channelReadComplete(context: ChannelHandlerContext) {
        flushBatch()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            flushBatch()
            splice.channelInputEnded()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        flushBatch()
        sawReset = true
        splice.channelFailed()
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unwritableSince = nil
        } else if unwritableSince == nil, let sendTimeout {
            unwritableSince = .now()
            armSendCheck(context: context, in: sendTimeout)
        }
        context.fireChannelWritabilityChanged()
    }

    private func armSendCheck(context: ChannelHandlerContext, in delay: TimeAmount) {
        guard sendCheck == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        sendCheck = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.sendCheck = nil
            handler.checkSendTimeout(context: context)
        }
    }

    private func checkSendTimeout(context: ChannelHandlerContext) {
        guard let since = unwritableSince, let sendTimeout, context.channel.isActive else { return }
        let waited = NIODeadline.now() - since
        guard waited >= sendTimeout else {
            armSendCheck(context: context, in: sendTimeout - waited)
            return
        }
        onSendTimeout?()
        sawReset = true
        splice.channelFailed()
        // SO_LINGER 0: the bytes it never took are dropped with a RST, not kept for it.
        _ = (context.channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        context.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        sendCheck?.cancel()
        sendCheck = nil
        flushBatch()
        splice.channelClosed(clean: !sawReset)
        context.fireChannelInactive()
    }

    private func flushBatch() {
        guard !batch.isEmpty else { return }
        let out = batch
        batch = []
        splice.channelRead(out)
    }
}
