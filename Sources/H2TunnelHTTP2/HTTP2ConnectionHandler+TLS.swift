import H2TunnelTLS
import NIOCore

extension TLSHandler {
    /// Puts `connection` straight on this TLS handler, after the handshake: the handler is
    /// its transport and it is the handler's plaintext peer, with no pipeline between them.
    /// How relay and agent run an agent connection: a hop through the pipeline each way
    /// cost ~700 instructions a request in each process (docs/performance.md).
    public func carry(_ connection: HTTP2ConnectionHandler) {
        attach(connection)
        connection.start(transport: self)
    }
}

extension TLSHandler: HTTP2Transport {
    public var canTakeFrames: Bool { canSendPlaintext }
    public var frameAllocator: ByteBufferAllocator { plaintextAllocator }
    public func takeFrames(_ frames: ByteBuffer) { sendPlaintext(frames) }
    public func flushFrames() { flushPlaintext() }
    public func closeTransport() { closeFromPeer() }
}

extension HTTP2ConnectionHandler: TLSPlaintextPeer {
    public func tlsReceived(_ plaintext: ByteBuffer) { receive(plaintext) }
    public func tlsReadEnded() { receiveDidEnd() }
    public func tlsBecameWritable() { transportBecameWritable() }
    public func tlsInputClosed() { transportFailed("peer closed the connection") }
    public func tlsFailed(_ error: Error) { transportFailed("\(error)") }
    public func tlsClosed() { transportClosed() }
}
