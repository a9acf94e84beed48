import H2TunnelSocket
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Turns bytes on their way between the socket and the stream (the agent terminates
/// the browser's TLS here). Runs on the stream's event loop, which is then also the
/// channel's.
public protocol SpliceTransform: AnyObject {
    /// Bytes from the stream: what goes to the socket, and what goes back on the stream.
    func fromStream(_ data: ByteBuffer) -> SpliceTransformOutput
    /// Bytes from the socket: returns what goes on the stream.
    func fromChannel(_ data: ByteBuffer) throws -> ByteBuffer?
    /// The stream's peer ended its half: returns what still goes to the socket.
    func streamEnded() -> ByteBuffer?
    /// The socket ended its half: returns what still goes on the stream (a close_notify).
    func channelEnded() -> ByteBuffer?
}

/// What a transform made of bytes from the stream.
public struct SpliceTransformOutput {
    public var toChannel: ByteBuffer?
    public var toStream: ByteBuffer?
    /// Ends the stream after `toStream` (e.g. a TLS alert) and resets the socket.
    public var failed = false
    /// The far end closed its half inside the bytes (a TLS close_notify): shut the socket's
    /// write side, as END_STREAM would.
    public var peerClosed = false

    public init(toChannel: ByteBuffer? = nil, toStream: ByteBuffer? = nil, failed: Bool = false, peerClosed: Bool = false) {
        self.toChannel = toChannel
        self.toStream = toStream
        self.failed = failed
        self.peerClosed = peerClosed
    }
}

/// Splices a TCP channel and an HTTP/2 stream: bytes both ways, FIN ↔ END_STREAM,
/// reset ↔ RST_STREAM (RFC 8441 §4 for CONNECT).
///
/// Backpressure, end to end: stream → socket bytes are `consume`d (their window given
/// back to the peer) only once the kernel took them; socket → stream reading stops while
/// the stream's queue is above its high watermark.
///
/// The channel and the stream may live on different event loops (at the relay, a
/// browser is accepted on any loop). `channelSide` state is touched only on the
/// channel's loop, `streamSide` state only on the stream's loop; crossing is by
/// `execute`, once per read burst.
public final class StreamSplice: HTTP2StreamDelegate, LoopSwept, @unchecked Sendable {
    public let streamLoop: EventLoop
    public let channelLoop: EventLoop
    private let transform: SpliceTransform?
    /// Told on the stream's loop when the far end answers; return false to abort.
    public var onResponse: ((HTTP2Headers) -> Bool)?
    /// Told once, on the stream's loop, when the stream is gone.
    public var onStreamClosed: ((UInt32) -> Void)?
    /// Also told once, on the stream's loop, when the stream is gone, after `onStreamClosed`:
    /// for the relay's access line, which reads the counters below.
    public var onFinished: ((UInt32) -> Void)?
    /// The relay's id of the browser connection (log metadata `conn`), for the lines the
    /// connection's delegate writes about this stream (a stall reset).
    public var connectionID: String?
    /// Bytes that came on the stream (to the socket) and from the socket (to the stream),
    /// before any transform; read on the stream's loop.
    public private(set) var bytesFromStream = 0
    public private(set) var bytesFromChannel = 0
    /// The socket failed or closed without a FIN (the browser or app reset it), or went away
    /// with our output to it unfinished (a write into a reset socket fails without an error
    /// event: NIO just closes the channel).
    public private(set) var channelWasReset = false
    /// A socket that takes none of our output for this long (writes queued, none of them
    /// completed) is reset, and the stream with it: a browser that stopped reading a
    /// download (an app, an upload) would otherwise hold its queued bytes, up to a stream
    /// window, for good. nginx's `send_timeout` is the same rule. Progress is any byte the
    /// kernel took since the last check (bytes written, by the splice or through NIO, minus
    /// those NIO still buffers), so a reader that keeps reading keeps its tunnel however slow it is and
    /// however full the queue stays. nil: never. Set before `attach(channel:)`.
    public var sendTimeout: TimeAmount?
    /// Told on the channel's loop when the send timeout reset the socket, for the log.
    public var onSendTimeout: (() -> Void)?
    /// Told on the stream's loop, with the bytes queued, when the stream's peer kept its
    /// window shut for `HTTP2Settings.peerWindowTimeout` and the stream is reset, for the log.
    public var onPeerStoppedReading: ((Int) -> Void)?
    /// A tunnel that carries no byte either way for this long is reset (the agent's
    /// `--idle-timeout`): a browser that opened a connection and went quiet must not hold a
    /// stream, and the agent's TLS state for it, for good. Checked every half timeout, so a
    /// tunnel goes after 1 to 1.5 times it; bytes waiting for a slow socket are not idle.
    /// nil: never. Set before `attach(channel:)`.
    public var idleTimeout: TimeAmount?
    /// Told on the channel's loop when the idle timeout reset the tunnel, for the log.
    public var onIdleTimeout: (() -> Void)?
    /// Socket options set right after the first bytes from the stream were written to the
    /// socket (the relay: TCP_QUICKACK after the ServerHello flight). Set before
    /// `attach(channel:)`.
    public var optionsAfterFirstWrite: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = []

    // Stream side (streamLoop).
    private var stream: HTTP2Stream?
    private var streamDone = false
    /// Socket bytes that arrived before the stream was attached (the relay's ClientHello).
    private var heldForStream: [ByteBuffer] = []
    private var endHeldForStream = false
    /// DATA of one read burst, sent to the socket in one hop, one write batch and one flush.
    private var batch: [ByteBuffer] = []
    private var batchConsume = 0

    // Channel side (channelLoop).
    private var channel: Channel?
    /// The socket's own descriptor, for the bytes the kernel takes at once (`SocketWriter`);
    /// nil where the channel has none (a pipe, an `EmbeddedChannel`). Sound because the
    /// splice is the only writer of its channel.
    private var writer: SocketWriter?
    private var heldForChannel: [(data: [ByteBuffer], consume: Int)] = []
    private var endHeldForChannel = false
    private var lastWrite: EventLoopFuture<Void>?
    private var readPaused = false
    private var inputEnded = false
    private var outputEnded = false
    private var outputEndRequested = false
    private var channelDone = false
    /// Bytes written to the socket, by the splice itself or through NIO, and how many of
    /// them the kernel had taken (all but NIO's buffered ones) at the last send-timeout
    /// check, and when that count last moved.
    private var bytesSubmitted = 0
    /// Write batches handed to the channel, and the last one whose write completed
    /// (writes complete in order): bytes wait in NIO while the two differ.
    private var batchesWritten = 0
    private var batchesDone = 0
    private var bytesTakenAtCheck = 0
    private var lastSendProgress = NIODeadline.uptimeNanoseconds(0)
    /// At most one pending send-timeout check, re-armed once per timeout, not per write.
    private var sendCheck: Scheduled<Void>?
    /// Reads and writes on the socket, their count at the last idle check, and how many
    /// checks in a row found it unchanged.
    private var channelActivity = 0
    private var activityAtIdleCheck = 0
    private var quietIdleChecks = 0
    /// The loop's idle sweep while this splice is in it (`joinIdleSweep`).
    private var idleSweep: LoopSweep?
    /// Kept by `idleSweep`.
    public var sweepSlot: Int?
    /// The stream ends by itself after a TLS alert; closing the socket must not reset it.
    private var streamEndsItself = false

    public init(streamLoop: EventLoop, channelLoop: EventLoop, transform: SpliceTransform? = nil) {
        self.streamLoop = streamLoop
        self.channelLoop = channelLoop
        self.transform = transform
    }

    // MARK: Attaching

    /// On the stream's loop: the stream to splice.
    public func attach(stream: HTTP2Stream) {
        streamLoop.preconditionInEventLoop()
        self.stream = stream
        stream.delegate = self
        let held = heldForStream
        heldForStream = []
        sendToStream(held)
        if endHeldForStream { endStream() }
    }

    /// On the channel's loop: the channel is gone from the splice's handler without an
    /// inactive event (removed from a live pipeline): the writer lets go of it.
    func channelHandlerRemoved() {
        writer = nil
    }

    /// On the channel's loop: the channel to splice; bytes held for it go out now.
    public func attach(channel: Channel) {
        channelLoop.preconditionInEventLoop()
        self.channel = channel
        writer = SocketWriter(channel: channel)
        joinIdleSweep()
        let held = heldForChannel
        heldForChannel = []
        for item in held { writeToChannel(item.data, consume: item.consume) }
        if endHeldForChannel { endChannelOutput() }
    }

    /// On the channel's loop, before `attach(channel:)`: false once the splice gave up on
    /// its socket before it existed (the browser's TLS failed while the upstream was
    /// connecting). Such a socket is closed, not attached: nothing would ever close it.
    public var wantsChannel: Bool {
        channelLoop.preconditionInEventLoop()
        return !channelDone
    }

    /// On the channel's loop, before `attach(channel:)`: stream bytes wait for the channel
    /// (at the agent, the browser's ClientHello, which the upstream is sure to answer).
    public var holdsBytesForChannel: Bool {
        channelLoop.preconditionInEventLoop()
        return !heldForChannel.isEmpty
    }

    /// The far end must not get this connection after all (the relay could not open it).
    public func abortStream(_ code: UInt32) {
        onStream {
            self.streamDone = true
            self.heldForStream = []
            self.stream?.reset(code)
        }
    }

    // MARK: HTTP2StreamDelegate (stream loop)

    public func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers) {
        if let onResponse, !onResponse(headers) {
            stream.reset(HTTP2ErrorCode.cancel)
        }
    }

    public func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer) {
        bytesFromStream += data.readableBytes
        var toChannel: ByteBuffer? = data
        var peerClosed = false
        if let transform {
            let out = transform.fromStream(data)
            toChannel = out.toChannel
            if let back = out.toStream { stream.write(back) }
            if out.failed {
                stream.consume(data.readableBytes)
                stream.end()
                onChannel {
                    // The stream ends on its own, after the alert: closing the socket must
                    // not reset it (a reset would drop the alert still queued on it).
                    self.inputEnded = true
                    self.streamEndsItself = true
                    self.resetChannel()
                }
                return
            }
            peerClosed = out.peerClosed
        }
        let consumed = data.readableBytes
        if let toChannel, toChannel.readableBytes > 0 {
            // Sent when the connection has handed over every frame of this read.
            batch.append(toChannel)
            batchConsume += consumed
        } else {
            stream.consume(consumed)
        }
        if peerClosed {
            sendBatch()
            onChannel { self.endChannelOutput() }
        }
    }

    public func streamDidEndDataBurst(_ stream: HTTP2Stream) {
        sendBatch()
    }

    /// The batch's storage is kept for the next burst once the channel side is done with
    /// it (at once when both sides share a loop; else the next burst gets a new one).
    private func sendBatch() {
        guard !batch.isEmpty else { return }
        var buffers: [ByteBuffer] = []
        swap(&buffers, &batch)
        let consume = batchConsume
        batchConsume = 0
        onChannel { [buffers] in self.writeToChannel(buffers, consume: consume) }
        buffers.removeAll(keepingCapacity: true)
        batch = buffers
    }

    public func streamDidReceiveEnd(_ stream: HTTP2Stream) {
        sendBatch()
        let tail = transform?.streamEnded()
        onChannel {
            if let tail { self.writeToChannel([tail], consume: 0) }
            self.endChannelOutput()
        }
    }

    public func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32) {
        onStreamClosed?(errorCode)
        onStreamClosed = nil
        onFinished?(errorCode)
        onFinished = nil
        guard !streamDone else { return }
        streamDone = true
        self.stream = nil
        if errorCode != HTTP2ErrorCode.noError {
            onChannel { self.resetChannel() }
        } else {
            // DATA of this same read goes first: it is still in the batch.
            sendBatch()
            onChannel {
                // After both END_STREAMs our input has ended already. If it has not, the
                // peer reset with NO_ERROR (RFC 9113 §8.1: it needs nothing more from us):
                // stop reading and close once the socket's output is finished.
                self.pauseReading()
                self.inputEnded = true
                self.endChannelOutput()
                self.closeChannelIfDone()
            }
        }
    }

    public func streamWritabilityChanged(_ stream: HTTP2Stream) {
        guard stream.isWritable else { return }
        onChannel { self.resumeReading() }
    }

    public func streamWillResetForShutWindow(_ stream: HTTP2Stream, queuedBytes: Int) {
        onPeerStoppedReading?(queuedBytes)
    }

    // MARK: Channel events (channel loop), from SpliceChannelHandler

    func channelRead(_ batch: [ByteBuffer]) {
        channelActivity &+= 1
        onStream {
            self.bytesFromChannel += batch.reduce(0) { $0 + $1.readableBytes }
            self.sendToStream(batch)
        }
    }

    func channelInputEnded() {
        inputEnded = true
        onStream { self.endStream() }
        closeChannelIfDone()
    }

    private func sendToStream(_ batch: [ByteBuffer]) {
        guard !streamDone else { return }
        guard let stream else {
            heldForStream.append(contentsOf: batch)
            return
        }
        for data in batch {
            if let transform {
                do {
                    if let out = try transform.fromChannel(data) { stream.write(out) }
                } catch {
                    stream.reset(HTTP2ErrorCode.internalError)
                    return
                }
            } else {
                stream.write(data)
            }
        }
        if !stream.isWritable { onChannel { self.pauseReading() } }
    }

    private func endStream() {
        guard !streamDone else { return }
        guard let stream else {
            endHeldForStream = true
            return
        }
        if let tail = transform?.channelEnded() { stream.write(tail) }
        stream.end()
    }

    /// The socket failed or closed without a FIN (ECONNRESET): the far end gets a reset.
    func channelFailed() {
        onStream {
            self.channelWasReset = true
            self.stream?.reset(HTTP2ErrorCode.connectError)
        }
    }

    /// `clean`: no socket error was seen. NIO closes a channel whose output we already
    /// shut as soon as the peer's FIN arrives, without an `inputClosed` event: that is the
    /// peer's EOF, not an abort.
    func channelClosed(clean: Bool) {
        channelDone = true
        channel = nil
        writer = nil   // it holds the channel
        sendCheck?.cancel()
        idleSweep?.remove(self)
        idleSweep = nil
        sendCheck = nil
        if !inputEnded && clean && outputEnded {
            inputEnded = true
            onStream { self.endStream() }
        }
        // Both halves done: the stream finishes on its own. Otherwise the socket is gone with
        // one half still open: after the browser's FIN, its socket can still die before all
        // our output reached it (a write fails), and the far end would go on sending into
        // nothing until its own end, possibly never.
        guard !(inputEnded && outputEnded), !streamEndsItself else { return }
        onStream {
            guard let stream = self.stream, !self.streamDone else { return }
            self.channelWasReset = true
            stream.reset(HTTP2ErrorCode.cancel)
        }
    }

    // MARK: Channel side helpers

    /// Writes a batch and gives `consume` bytes of window back once the kernel took all of
    /// it. While NIO holds none of our bytes, what the socket takes now goes straight to it
    /// (`writer`). The rest, and every batch while NIO still holds an earlier one, goes
    /// through NIO with one flush, the window given back when its last write completed
    /// (NIO completes writes in order).
    private func writeToChannel(_ buffers: [ByteBuffer], consume: Int) {
        guard let channel else {
            if !channelDone { heldForChannel.append((buffers, consume)) } else { onStream { self.stream?.consume(consume) } }
            return
        }
        channelActivity &+= 1
        batchesWritten += 1
        let batch = batchesWritten
        let bytes = buffers.reduce(0) { $0 + $1.readableBytes }
        bytesSubmitted += bytes
        // Straight to the socket only while NIO holds none of ours (batches complete in order).
        let direct = batchesDone == batch - 1 ? writer : nil
        let sent = direct?.send(buffers) ?? 0
        if direct != nil, sent == bytes {
            batchesDone = batch
            lastWrite = nil
            if consume > 0 { onStream { self.stream?.consume(consume) } }
        } else {
            writeThroughNIO(buffers, skipping: sent, batch: batch, consume: consume, channel: channel)
        }
        if !optionsAfterFirstWrite.isEmpty {
            for (option, value) in optionsAfterFirstWrite {
                if writer?.setOption(option, value: value) == true { continue }
                _ = try? channel.syncOptions?.setOption(option, value: value)
            }
            optionsAfterFirstWrite = []
        }
        // Armed only when bytes are left waiting: the kernel takes a page or a small
        // response at once, and 10,000 idle tunnels must not each hold a timer.
        if sendCheck == nil, sendTimeout != nil, batchesDone != batchesWritten {
            lastSendProgress = .now()
            armSendCheck()
        }
    }

    /// The batch's bytes from `sent` on, to NIO.
    private func writeThroughNIO(_ buffers: [ByteBuffer], skipping sent: Int, batch: Int, consume: Int, channel: Channel) {
        let promise = channelLoop.makePromise(of: Void.self)
        var skip = sent
        for (index, var buffer) in buffers.enumerated() {
            let dropped = min(skip, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: dropped)
            skip -= dropped
            // A buffer the kernel took whole stays out, but for the last: it has the promise.
            if buffer.readableBytes == 0, index < buffers.count - 1 { continue }
            channel.write(buffer, promise: index == buffers.count - 1 ? promise : nil)
        }
        // Registered before the flush: a write the socket takes at once completes inside
        // it, so afterwards `batchesDone` tells whether bytes are left waiting without
        // asking the channel (an option lookup of dynamic casts on every write).
        promise.futureResult.whenComplete { _ in
            self.batchesDone = batch
            if consume > 0 { self.onStream { self.stream?.consume(consume) } }
        }
        channel.flush()
        lastWrite = promise.futureResult
    }

    private func armSendCheck(in delay: TimeAmount? = nil) {
        guard let sendTimeout, sendCheck == nil else { return }
        sendCheck = channelLoop.scheduleTask(in: delay ?? sendTimeout) {
            self.sendCheck = nil
            self.checkSendTimeout()
        }
    }

    private func checkSendTimeout() {
        guard let sendTimeout, let channel,
              let buffered = try? channel.syncOptions?.getOption(.bufferedWritableBytes),
              buffered > 0 else { return }   // nothing waits: the next write arms the check again
        let taken = bytesSubmitted - buffered
        if taken != bytesTakenAtCheck {
            bytesTakenAtCheck = taken
            lastSendProgress = .now()
        }
        let waited = NIODeadline.now() - lastSendProgress
        guard waited >= sendTimeout else { return armSendCheck(in: sendTimeout - waited) }
        onSendTimeout?()
        channelFailed()
        resetChannel()
    }

    /// Idleness is looked at by the loop's sweep every half timeout, not by a task of this
    /// splice's own (one scheduled and cancelled per tunnel was ~5,000 instructions of the
    /// agent's per connection). Two looks in a row that find no byte moved, none waiting
    /// and reading not paused end the tunnel: 1 to 1.5 times the timeout after its last
    /// byte. The sweep's phase is not this splice's, so joining counts as activity: its
    /// first look may come at once.
    private func joinIdleSweep() {
        guard let idleTimeout, idleSweep == nil, !channelDone else { return }
        channelActivity &+= 1
        let sweep = LoopSweep.of(channelLoop, interval: .nanoseconds(idleTimeout.nanoseconds / 2))
        sweep.add(self)
        idleSweep = sweep
    }

    /// One look of the idle sweep; false once the tunnel is gone or was ended here.
    public func sweep(now: NIODeadline) -> Bool {
        guard channel != nil else { return false }
        // Reading paused is waiting for the stream's peer, not idleness.
        let quiet = channelActivity == activityAtIdleCheck && batchesDone == batchesWritten && !readPaused
        activityAtIdleCheck = channelActivity
        quietIdleChecks = quiet ? quietIdleChecks + 1 : 0
        guard quietIdleChecks >= 2 else { return true }
        idleSweep = nil
        onIdleTimeout?()
        channelFailed()
        resetChannel()
        return false
    }

    /// The far end sent END_STREAM: shut our socket's write side once everything before it is out.
    private func endChannelOutput() {
        guard !outputEndRequested else { return }
        guard let channel else {
            endHeldForChannel = true
            return
        }
        outputEndRequested = true
        let close: @Sendable () -> Void = { [channel] in
            // Set first: shutting the output of a socket whose input has ended closes it
            // at once, inside this call, and that close must see our output finished.
            self.outputEnded = true
            channel.close(mode: .output, promise: nil)
            self.closeChannelIfDone()
        }
        guard let lastWrite else { return close() }
        lastWrite.whenComplete { result in
            // A failed write means the socket died under our output (NIO fails the writes
            // behind it too): its close resets the stream, as it should. Nothing here may
            // make that output look finished, or a cut-off response would end cleanly.
            if case .success = result { close() }
        }
    }

    private func closeChannelIfDone() {
        guard let channel, inputEnded, outputEnded else { return }
        channel.close(promise: nil)
    }

    /// SO_LINGER 0 then close: the peer sees a TCP RST, as the far end did.
    private func resetChannel() {
        heldForChannel = []
        guard let channel else {
            channelDone = true
            return
        }
        if writer?.resetOnClose() != true {
            _ = (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        channel.close(promise: nil)
    }

    private func pauseReading() {
        guard !readPaused, let channel else { return }
        readPaused = true
        _ = channel.setOption(ChannelOptions.autoRead, value: false)
    }

    private func resumeReading() {
        guard readPaused, let channel else { return }
        readPaused = false
        _ = channel.setOption(ChannelOptions.autoRead, value: true)
    }

    // MARK: Loops

    private func onStream(_ body: @escaping @Sendable () -> Void) {
        if streamLoop.inEventLoop { body() } else { streamLoop.execute(body) }
    }

    private func onChannel(_ body: @escaping @Sendable () -> Void) {
        if channelLoop.inEventLoop { body() } else { channelLoop.execute(body) }
    }
}
