import NIOCore
internal import CNGHTTP2

/// One HTTP/2 stream as the tunnel uses it: a byte pipe in each direction.
///
/// Every method must be called on the connection's event loop (`eventLoop`). Outbound
/// bytes wait in a queue that nghttp2's data provider drains as the peer's flow-control
/// window allows; `isWritable` tells the source when to pause.
public final class HTTP2Stream: @unchecked Sendable {
    public let id: Int32
    public let eventLoop: EventLoop
    public internal(set) var headers = HTTP2Headers()
    /// Held strongly until the stream closes (the connection then lets go). Not `weak`:
    /// a weak reference gives the delegate a side table, which makes every retain and
    /// release of it a slow-path call (~9 % of relay CPU at 20,000 requests/s).
    public var delegate: HTTP2StreamDelegate?

    unowned let connection: HTTP2ConnectionHandler
    var outbound = CircularBuffer<ByteBuffer>()
    var outboundBytes = 0
    var endRequested = false
    /// The data provider returned NGHTTP2_ERR_DEFERRED: `resume_data` is needed to go on.
    var deferred = false
    var wasWritable = true
    /// Bytes received whose window has not been given back yet.
    var unconsumed = 0
    /// Bytes written onward since our last WINDOW_UPDATE for this stream (`giveBack`).
    var consumedSinceUpdate = 0
    /// When bytes of this stream were last written onward, or began to wait: a stream
    /// holding bytes with no progress since is stalled (see `resetStalledStreams`).
    var lastProgress = NIODeadline.uptimeNanoseconds(0)
    /// Our receive window for this stream: SETTINGS_INITIAL_WINDOW_SIZE, doubled by
    /// `tuneWindow` while the window, not the reader, is what limits the stream.
    var receiveWindow: Int
    /// Bytes written onward since `windowRoundStart`; a round ends every half window.
    var consumedThisRound = 0
    var windowRoundStart: NIODeadline
    /// Bytes held here when the round started: a reader behind its sender.
    var heldAtRoundStart = 0
    public internal(set) var isClosed = false
    /// Bumped by every DATA in or out; a drain's idle sweep resets a stream whose count
    /// stood still for a whole sweep interval (`HTTP2ConnectionHandler.sweepIdleStreams`).
    var activity = 0
    var activityAtSweep = -1
    /// Listed in the connection's `dataBurst`: told DATA in the read under way.
    var inDataBurst = false
    /// DATA frames sent, and their count and whether the peer's window held the queue
    /// shut at the last window check (`HTTP2ConnectionHandler.checkPeerWindows`).
    var framesSent = 0
    var framesSentAtCheck = -1
    var shutAtCheck = false
    /// Bytes sent since nghttp2 last found the queue empty: how long the stream has been
    /// sending without a pause. Past `bulkAfter` it is `isBulk` (urgency 4).
    var sentSinceIdle = 0
    var isBulk = false
    /// We asked for RST_STREAM; it may still wait in nghttp2's queue.
    var resetRequested = false
    /// Server role: a response was submitted.
    public internal(set) var responded = false
    /// Server role: the status `respondWithFirstData` holds back until there is DATA to go with it.
    private var heldStatus: Int?

    init(id: Int32, connection: HTTP2ConnectionHandler) {
        self.id = id
        self.connection = connection
        self.eventLoop = connection.eventLoop
        self.receiveWindow = connection.settings.initialStreamWindow
        self.windowRoundStart = connection.eventLoop.now
    }

    public var isWritable: Bool { outboundBytes < connection.settings.streamHighWatermark }
    /// Bytes written to the stream that flow control has not let out yet.
    public var hasQueuedOutput: Bool { outboundBytes > 0 }

    /// Queues `data` to be sent as DATA frames.
    public func write(_ data: ByteBuffer) {
        eventLoop.preconditionInEventLoop()
        guard !isClosed, !endRequested, data.readableBytes > 0 else { return }
        submitHeldResponse()
        if outboundBytes == 0 { connection.watchPeerWindows() }
        outbound.append(data)
        outboundBytes += data.readableBytes
        activity &+= 1
        // Once not writable, only `send` (the queue drained below the low watermark) makes
        // it writable again, with the event that resumes the source: a write landing while
        // the queue is between the watermarks must not clear it silently.
        wasWritable = wasWritable && isWritable
        resumeIfDeferred()
    }

    /// Sends END_STREAM after the queued bytes: our half is done (a TCP FIN).
    public func end() {
        eventLoop.preconditionInEventLoop()
        guard !isClosed, !endRequested else { return }
        submitHeldResponse()
        endRequested = true
        resumeIfDeferred()
    }

    /// RST_STREAM (RFC 9113 §6.4) with `code`, e.g. CONNECT_ERROR for a TCP reset (RFC 8441 §4).
    public func reset(_ code: UInt32) {
        eventLoop.preconditionInEventLoop()
        guard !isClosed else { return }
        resetRequested = true
        connection.resetStream(self, code: code)
    }

    /// Gives back `count` bytes of window: they were written onward.
    public func consume(_ count: Int) {
        eventLoop.preconditionInEventLoop()
        let count = min(count, unconsumed)
        guard count > 0 else { return }
        unconsumed -= count
        connection.consume(self, count: count)
    }

    /// Server role: answers the request. Without a body the stream ends here.
    public func respond(status: Int, headers extra: [(String, String)] = [], withBody: Bool) throws {
        eventLoop.preconditionInEventLoop()
        try connection.submitResponse(self, status: status, headers: extra, withBody: withBody)
    }

    /// Server role: a 200-class answer whose HEADERS wait for the stream's first DATA (or its
    /// end), so both leave in one TLS record and the client wakes once, not twice. Only for a
    /// stream whose answer is sure to follow, e.g. a tunnel whose upstream already holds the
    /// browser's ClientHello; with bytes already queued the answer goes at once. A reset
    /// before any DATA sends RST_STREAM alone.
    public func respondWithFirstData(status: Int) throws {
        eventLoop.preconditionInEventLoop()
        guard outbound.isEmpty, !endRequested else {
            try respond(status: status, withBody: true)
            return
        }
        heldStatus = status
    }

    private func submitHeldResponse() {
        guard let status = heldStatus else { return }
        heldStatus = nil
        // Throws only once the session is gone, and then so is this stream.
        try? connection.submitResponse(self, status: status, headers: [], withBody: true)
    }

    private func resumeIfDeferred() {
        if deferred {
            deferred = false
            connection.resumeData(self)
        }
        connection.scheduleFlush()
    }

    /// The data provider: tells nghttp2 how much of the queue the next DATA frame carries.
    /// NO_COPY: the bytes stay here until `send(_:into:)` writes them after the frame header,
    /// so they are copied once, into the outgoing buffer, not first into nghttp2's.
    func fill(length: Int, flags: inout UInt32) -> Int {
        let take = min(length, outboundBytes)
        if take == outboundBytes {
            if endRequested {
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            } else if take == 0 {
                deferred = true
                sentSinceIdle = 0
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        if take > 0 { flags |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue }
        return take
    }

    /// Hands `length` queued bytes to `body`, as slices of the queued buffers (nghttp2's
    /// send_data_callback).
    func send(_ length: Int, _ body: (ByteBuffer) -> Void) {
        var left = length
        while left > 0, var head = outbound.first {
            let take = min(left, head.readableBytes)
            body(head.readSlice(length: take)!)
            left -= take
            if head.readableBytes == 0 { outbound.removeFirst() } else { outbound[outbound.startIndex] = head }
        }
        outboundBytes -= length - left
        sentSinceIdle += length - left
        connection.noteSent(self)
        framesSent &+= 1
        if !wasWritable && outboundBytes <= connection.settings.streamLowWatermark {
            wasWritable = true
            connection.enqueue(.writable(id))
        }
    }
}
