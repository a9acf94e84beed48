import NIOCore

/// Fired inbound once the handshake completed, with what the rest of the pipeline decides on.
public struct TLSHandshakeCompleted: Sendable {
    public var alpn: String?
    public var peer: CertificateNames?
    public var version: String
    /// SHA-256 of the peer's certificate (`CertificateFingerprint`), nil when it sent none.
    public var peerSHA256: String?
}

/// Puts a `TLSConnection` on a channel: ciphertext below, plaintext above.
///
/// Plaintext written before the handshake completes is held (bounded by the caller's own
/// backpressure: nothing above writes much before it has heard `TLSHandshakeCompleted`).
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State { case idle, handshaking, active, closed }

    /// Plaintext handed up per read: as much as one 256 KiB socket read decrypts to, so the
    /// HTTP/2 layer above parses a burst in one pass instead of four.
    static let readLimit = 256 * 1024

    private let connection: TLSConnection
    private let handshakeTimeout: TimeAmount?
    private var state: State = .idle
    private var heldWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var heldFlush = false
    /// Ciphertext went down since the last flush. A read's end flushes only then: most
    /// reads write nothing of TLS's own, and what the layer above writes it flushes itself
    /// (an empty flush down the pipeline was ~900 instructions a read).
    private var unflushed = false
    private var timeoutTask: Scheduled<Void>?

    public init(connection: TLSConnection, handshakeTimeout: TimeAmount? = .seconds(10)) {
        self.connection = connection
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let held = heldWrites
        heldWrites = []
        state = .closed
        timeoutTask?.cancel()
        for (_, promise) in held { promise?.fail(ChannelError.ioOnClosedChannel) }
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.feed(unwrapInboundIn(data))
        process(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        if unflushed { flushOutput(context: context) }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            connection.feedEOF()
            process(context: context)
            if state == .handshaking {
                fail(context: context, TLSError("connection closed during the TLS handshake"))
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            heldWrites.append((plaintext, promise))
        case .active:
            do {
                try connection.write(plaintext)
                writeOutput(context: context, promise: promise)
            } catch {
                promise?.fail(error)
                fail(context: context, error)
            }
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if state == .active { flushOutput(context: context) } else { heldFlush = true }
    }

    /// Sends close_notify before closing, so the peer can tell an end from a truncation.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if state == .active, mode != .input {
            connection.shutdown()
            writeOutput(context: context, promise: nil)
            flushOutput(context: context)
        }
        context.close(mode: mode, promise: promise)
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        if let handshakeTimeout {
            timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: handshakeTimeout) {
                // Strong on purpose (a weak self would put every retain of this handler
                // on the slow path); the task is cancelled when the handshake ends.
                guard self.state == .handshaking else { return }
                self.fail(context: context, TLSError("TLS handshake timed out"))
            }
        }
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        if state == .handshaking {
            switch connection.handshake() {
            case .incomplete:
                writeOutput(context: context, promise: nil)
                flushOutput(context: context)
                return
            case .failed(let error):
                fail(context: context, error)
                return
            case .complete:
                state = .active
                timeoutTask?.cancel()
                writeOutput(context: context, promise: nil)
                context.fireUserInboundEventTriggered(TLSHandshakeCompleted(
                    alpn: connection.negotiatedALPN, peer: connection.peerCertificate,
                    version: connection.protocolVersion, peerSHA256: connection.peerCertificateSHA256))
                releaseHeldWrites(context: context)
            }
        }
        guard state == .active else { return }
        readLoop: while true {
            switch connection.read(allocator: context.channel.allocator, limit: Self.readLimit) {
            case .data(let plaintext):
                context.fireChannelRead(wrapInboundOut(plaintext))
            case .wantMore:
                break readLoop
            case .closed:
                // close_notify from the peer: its write side is done (a TLS half-close).
                writeOutput(context: context, promise: nil)
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                break readLoop
            case .failed(let error):
                fail(context: context, error)
                return
            }
        }
        writeOutput(context: context, promise: nil)
    }

    private func releaseHeldWrites(context: ChannelHandlerContext) {
        let held = heldWrites
        heldWrites = []
        for (plaintext, promise) in held {
            write(context: context, data: wrapOutboundOut(plaintext), promise: promise)
        }
        if heldFlush || !held.isEmpty {
            heldFlush = false
            flushOutput(context: context)
        }
    }

    private func writeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let ciphertext = connection.takeOutput() {
            unflushed = true
            context.write(wrapOutboundOut(ciphertext), promise: promise)
        } else {
            promise?.succeed(())
        }
    }

    private func flushOutput(context: ChannelHandlerContext) {
        unflushed = false
        context.flush()
    }

    /// Sends whatever alert OpenSSL queued, then reports and closes.
    private func fail(context: ChannelHandlerContext, _ error: Error) {
        guard state != .closed else { return }
        writeOutput(context: context, promise: nil)
        flushOutput(context: context)
        state = .closed
        timeoutTask?.cancel()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
