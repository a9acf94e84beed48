import NIOCore

/// The connection as the top handler of a channel: the channel's events drive it, and the
/// handler's context is its transport.
extension HTTP2ConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public func handlerAdded(context: ChannelHandlerContext) {
        start(transport: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        receiveDidEnd()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { transportBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            transportFailed("peer closed the connection")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        transportFailed("\(error)")
    }

    public func channelInactive(context: ChannelHandlerContext) {
        transportClosed()
        context.fireChannelInactive()
    }
}

/// A handler's context as its connection's transport: frames go down the pipeline (to
/// `TLSHandler`), and the channel's writability is the far end keeping up. The context is
/// the transport itself, so driving a connection from a channel costs no object of its own.
extension ChannelHandlerContext: HTTP2Transport {
    public var canTakeFrames: Bool { channel.isWritable }
    public var frameAllocator: ByteBufferAllocator { channel.allocator }
    public func takeFrames(_ frames: ByteBuffer) { write(NIOAny(frames), promise: nil) }
    public func flushFrames() { flush() }
    public func closeTransport() { close(promise: nil) }
}
