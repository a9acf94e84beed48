import NIOCore

/// The channel end of a `StreamSplice`: reads in bursts, FIN and reset detection.
public final class SpliceChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer

    private let splice: StreamSplice
    private var batch: [ByteBuffer] = []
    private var sawReset = false

    public init(splice: StreamSplice) { self.splice = splice }

    public func handlerAdded(context: ChannelHandlerContext) {
        splice.attach(channel: context.channel)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        splice.channelHandlerRemoved()
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

    public func channelInactive(context: ChannelHandlerContext) {
        flushBatch()
        splice.channelClosed(clean: !sawReset)
        context.fireChannelInactive()
    }

    /// The array's storage is kept for the next burst once the splice is done with it
    /// (at once when both sides share a loop; else the next burst gets a new one).
    private func flushBatch() {
        guard !batch.isEmpty else { return }
        var out: [ByteBuffer] = []
        swap(&out, &batch)
        splice.channelRead(out)
        out.removeAll(keepingCapacity: true)
        batch = out
    }
}
