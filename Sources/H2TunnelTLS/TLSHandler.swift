import H2TunnelSocket
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
/// Above it is either the rest of the pipeline or, once attached (`attach(_:)`), one
/// `TLSPlaintextPeer` called directly: the HTTP/2 connection of an agent connection.
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
    /// What takes the plaintext instead of the pipeline above, once attached.
    private var peer: TLSPlaintextPeer?
    /// Our context, for the peer's calls, which come from outside the pipeline (handler
    /// methods use the one they are given).
    private var contextForPeer: ChannelHandlerContext?
    /// While a peer is attached: records go to the socket by `sendmsg`, not through NIO
    /// (`SocketWriter`); nil where the channel has no descriptor. Sound while this handler
    /// is the only one that writes to the channel, as on an agent connection: a writer
    /// below it would see its bytes overtaken.
    private var writer: SocketWriter?
    /// Records taken from TLS since the last flush, while `writer` sends them, and their
    /// size.
    private var records: [ByteBuffer] = []
    private var recordBytes = 0
    /// Records go out as soon as this many bytes of them wait, not only at the flush: the
    /// channel's high watermark, which the owner keeps it equal to (`LinkTuner`). NIO's
    /// buffer stopped the HTTP/2 layer after that much; records held to the end of a pass
    /// would let it queue all nghttp2 has ahead of the next page's frames (`Tools/bench
    /// --wan`: page under 4 downloads 1.46–1.50 × idle with 64 KiB at 50 Mbit/s, against
    /// 1.34–1.42 with the watermark's 16 KiB).
    public var pushAt = 64 * 1024
    /// Flushes NIO still holds for us because the socket was full: until they are out, our
    /// records queue behind them in NIO, in order.
    private var flushesInNIO = 0
    /// Written to NIO since its last flush while `writer` is in use.
    private var nioUnflushed = false

    public init(connection: TLSConnection, handshakeTimeout: TimeAmount? = .seconds(10)) {
        self.connection = connection
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        contextForPeer = context
        if context.channel.isActive { start(context: context) }
    }

    /// Normally after `channelInactive`, which already told the peer. Removed from a live
    /// channel, the handler can carry nothing more: the peer hears it is closed.
    public func handlerRemoved(context: ChannelHandlerContext) {
        contextForPeer = nil
        writer = nil
        let peer = self.peer
        self.peer = nil
        peer?.tlsClosed()
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
        writer = nil
        records = []
        // Let go first: the peer holds this handler as its transport, and this ends the cycle.
        let peer = self.peer
        self.peer = nil
        peer?.tlsClosed()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.feed(unwrapInboundIn(data))
        process(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if let peer { peer.tlsReadEnded() } else { context.fireChannelReadComplete() }
        if unflushed { flushOutput(context: context) }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let peer, context.channel.isWritable { peer.tlsBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            connection.feedEOF()
            process(context: context)
            if state == .handshaking {
                fail(context: context, TLSError("connection closed during the TLS handshake"))
                return
            }
            if let peer {
                peer.tlsInputClosed()
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A socket error (a reset) goes to the peer, which closes the channel.
    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let peer { peer.tlsFailed(error) } else { context.fireErrorCaught(error) }
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
                if let peer { peer.tlsReceived(plaintext) } else { context.fireChannelRead(wrapInboundOut(plaintext)) }
            case .wantMore:
                break readLoop
            case .closed:
                // close_notify from the peer: its write side is done (a TLS half-close).
                writeOutput(context: context, promise: nil)
                if let peer { peer.tlsInputClosed() } else { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
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
        guard let ciphertext = connection.takeOutput() else {
            promise?.succeed(())
            return
        }
        unflushed = true
        guard writer != nil else { return context.write(wrapOutboundOut(ciphertext), promise: promise) }
        recordBytes += ciphertext.readableBytes
        records.append(ciphertext)
        if let promise {
            // A write someone awaits goes through NIO, which tells when it is out.
            sendThroughNIO(context: context, completing: promise)
        } else if recordBytes >= pushAt {
            pushRecords(context: context)
        }
    }

    private func flushOutput(context: ChannelHandlerContext) {
        unflushed = false
        guard writer != nil else { return context.flush() }
        pushRecords(context: context)
        if nioUnflushed {
            nioUnflushed = false
            context.flush()
        }
    }

    /// Records to the socket, or behind what NIO holds for us.
    private func pushRecords(context: ChannelHandlerContext) {
        if flushesInNIO == 0 { writer?.send(&records) }
        if !records.isEmpty { sendThroughNIO(context: context) }
        recordBytes = 0
    }

    /// The records the socket did not take now go to NIO, which writes them once it can
    /// (and meets the socket's error, if that was why); counted until they are out.
    private func sendThroughNIO(context: ChannelHandlerContext, completing awaited: EventLoopPromise<Void>? = nil) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        for (index, record) in records.enumerated() {
            context.write(wrapOutboundOut(record), promise: index == records.count - 1 ? promise : nil)
        }
        records.removeAll(keepingCapacity: true)
        recordBytes = 0
        nioUnflushed = true
        flushesInNIO += 1
        promise.futureResult.whenComplete { _ in self.flushesInNIO -= 1 }
        if let awaited { promise.futureResult.cascade(to: awaited) }
    }

    /// Sends whatever alert OpenSSL queued, then reports and closes.
    private func fail(context: ChannelHandlerContext, _ error: Error) {
        guard state != .closed else { return }
        writeOutput(context: context, promise: nil)
        flushOutput(context: context)
        state = .closed
        timeoutTask?.cancel()
        if let peer { peer.tlsFailed(error) } else { context.fireErrorCaught(error) }
        context.close(promise: nil)
    }

    // MARK: A peer above, by call

    /// After the handshake: `peer` takes every event the pipeline above would have had, and
    /// writes through the calls below. An agent connection's HTTP/2 sits here, so each read,
    /// write, flush and read's end is a call instead of a pipeline hop each way (~150
    /// instructions a hop, ~700 a request in each of relay and agent; callgrind).
    public func attach(_ peer: TLSPlaintextPeer) {
        precondition(state == .active && self.peer == nil, "attach a TLS peer once, after the handshake")
        self.peer = peer
        guard let context = contextForPeer, let writer = SocketWriter(channel: context.channel) else { return }
        self.writer = writer
        // The handshake's last flight went to NIO and may still be there: our own writes
        // start once it is out (an empty write completes after every write before it).
        records = [context.channel.allocator.buffer(capacity: 0)]
        sendThroughNIO(context: context)
        context.flush()
        nioUnflushed = false
    }

    /// False while the channel is above its high watermark.
    public var canSendPlaintext: Bool { contextForPeer?.channel.isWritable ?? false }

    /// The channel's allocator (a plain one before the handler is in a pipeline).
    public var plaintextAllocator: ByteBufferAllocator { contextForPeer?.channel.allocator ?? ByteBufferAllocator() }

    /// Encrypts now; the records leave at the next `flushPlaintext()`.
    public func sendPlaintext(_ plaintext: ByteBuffer) {
        guard state == .active, let context = contextForPeer else { return }
        do {
            try connection.write(plaintext)
            writeOutput(context: context, promise: nil)
        } catch {
            fail(context: context, error)
        }
    }

    public func flushPlaintext() {
        guard state == .active, let context = contextForPeer else { return }
        flushOutput(context: context)
    }

    /// close_notify, then the channel closes; the peer hears `tlsClosed()`.
    public func closeFromPeer() {
        guard let context = contextForPeer else { return }
        close(context: context, mode: .all, promise: nil)
    }
}

/// What sits directly on a `TLSHandler` in place of the pipeline above it (`attach(_:)`).
/// Told on the channel's event loop.
public protocol TLSPlaintextPeer: AnyObject {
    /// Decrypted bytes, in order.
    func tlsReceived(_ plaintext: ByteBuffer)
    /// The socket read whose plaintext was just told is over.
    func tlsReadEnded()
    /// The channel can take more after `canSendPlaintext` said no.
    func tlsBecameWritable()
    /// The far end is done sending: a close_notify or the socket's FIN.
    func tlsInputClosed()
    /// TLS failed (a bad record, an alert); the channel is closing.
    func tlsFailed(_ error: Error)
    /// The channel is closed; the handler no longer holds the peer.
    func tlsClosed()
}
