import NIOCore

/// What an `HTTP2ConnectionHandler` needs of whatever carries its bytes: somewhere to put
/// frames, a flush, a close, and whether the far end is keeping up.
///
/// Today every connection runs in a NIO pipeline and its `ChannelHandlerContext` is its
/// transport (`HTTP2ConnectionHandler+Channel.swift`). NIO's channel machinery is most of
/// relay's and agent's CPU per event (docs/performance.md); the data path on an event loop
/// of its own (docs/roadmap.md, item 1) gives the same connection a socket and a
/// `TLSConnection` behind this protocol instead, and drives it through the connection's
/// "Driving" calls. All of it on the connection's `eventLoop`.
public protocol HTTP2Transport: AnyObject {
    /// False while the far end is behind (a channel above its high watermark): the
    /// connection then leaves frames in nghttp2, where streams still interleave, and waits
    /// for `transportBecameWritable()`.
    var canTakeFrames: Bool { get }
    /// Allocates the buffers frames are written into.
    var frameAllocator: ByteBufferAllocator { get }
    /// Frames to send, in order; they leave at the next `flushFrames()`.
    func takeFrames(_ frames: ByteBuffer)
    func flushFrames()
    /// Closes the transport; it then tells the connection `transportClosed()`.
    func closeTransport()
}
