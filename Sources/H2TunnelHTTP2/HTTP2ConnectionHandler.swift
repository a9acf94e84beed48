import NIOCore
internal import CNGHTTP2

/// One HTTP/2 connection on nghttp2, client or server, over a transport whose bytes are
/// plaintext (TLS is below it). Today that transport is a channel: the connection is the
/// top handler of its pipeline (`HTTP2ConnectionHandler+Channel.swift`). The connection
/// itself knows only `HTTP2Transport` and the driving calls below ("Driving"), so the
/// data path can move to an event loop of its own (docs/roadmap.md, item 1) with this
/// code unchanged.
///
/// nghttp2 is never re-entered: its callbacks only record `Event`s, which are handed to
/// the delegates after `mem_recv`/`mem_send` returned. The handler owns the
/// `nghttp2_session` and frees it in `deinit`; nghttp2's `user_data` is an unretained
/// pointer to the handler, which its driver (the pipeline) keeps alive for the session's
/// lifetime.
public final class HTTP2ConnectionHandler: @unchecked Sendable {
    public enum Role: Sendable { case client, server }

    enum Event {
        case request(Int32)
        case headers(Int32)
        case data(Int32, ByteBuffer)
        case end(Int32)
        case closed(Int32, UInt32)
        case writable(Int32)
        case settings
        case pingAck(UInt64)
        case goaway(UInt32)
    }

    public let role: Role
    public let settings: HTTP2Settings
    public let eventLoop: EventLoop
    public var delegate: HTTP2ConnectionDelegate?
    /// Sees every frame both ways (h2probe); nil on the data path.
    public var frameObserver: HTTP2FrameObserver?

    var session: OpaquePointer?
    /// Where frames go; nil before `start(transport:)` and once the transport closed.
    private var transport: HTTP2Transport?
    /// The transport's allocator, asked once: `appendOutput` needs it on every pass.
    private var frameAllocator = ByteBufferAllocator()
    var streams: [Int32: HTTP2Stream] = [:]
    /// The stream `stream(_:)` found last (see there).
    private var lastFound: HTTP2Stream?
    private var events: [Event] = []
    /// The other of `dispatchEvents`' two arrays, empty.
    private var spareEvents: [Event] = []
    /// The buffer being fed to `mem_recv`, so DATA payloads become slices of it.
    var input: (base: UnsafeRawPointer, buffer: ByteBuffer)?
    /// Frames on their way to the transport, filled during `flushNow`.
    private var output: ByteBuffer?
    private var flushScheduled = false
    /// `sendData` wrote to the transport itself during this `flushNow`.
    private var wroteDirectly = false
    private var flushing = false
    /// The transport became writable again inside our own `flushFrames()` (the socket took
    /// everything): that event found `flushing` set, so the pass must be repeated.
    private var writableDuringFlush = false
    private var isReady = false
    public private(set) var isDraining = false
    public private(set) var isClosed = false
    private var closeReason: String?
    private var pingTask: RepeatedTask?
    private var pingDeadline: Scheduled<Void>?
    /// Every PING we sent and await the ACK of, matched by payload: the liveness PINGs,
    /// the one sent at start to learn the round-trip time, h2probe's.
    private var pingsInFlight: [(payload: UInt64, sent: NIODeadline, liveness: Bool, promise: EventLoopPromise<TimeAmount>?)] = []
    /// The next PING's payload: each ACK names the PING it answers, whatever else arrives.
    private var nextPingPayload: UInt64 = 1
    /// PINGs sent one after another once the connection is up, for `minRTT`. The first
    /// round trip carries the connection's first-time work: on loopback the relay's first
    /// took 0.4–3.7 ms where later ones take 0.07. Sized to that, a stream window doubled
    /// on a path where it never should, while a reader filled its empty socket buffers.
    static let startPings = 3
    private var startPingsLeft = 0
    /// The smallest PING round trip seen: the path's own delay, without the queues a
    /// busy connection adds. Stream windows are tuned against it (`tuneWindow`).
    private(set) var minRTT: TimeAmount?
    /// When received bytes give their connection window back (see `ReceiveBudget`).
    var receiveBudget: ReceiveBudget
    /// Connection window credited since our last connection WINDOW_UPDATE (`giveBackConnection`).
    var connectionConsumedSinceUpdate = 0
    /// The next look for stalled streams, scheduled only while over the receive budget.
    var stallCheck: Scheduled<Void>?
    /// The next idle sweep of a drain that closes idle streams (`drain(closingIdleStreams:)`).
    var idleSweep: Scheduled<Void>?
    /// The next look for streams the peer's shut window holds up, armed while bytes wait.
    var windowCheck: Scheduled<Void>?
    /// The largest DATA frame we send: `settings.maxFrameSize` unless the owner sizes
    /// frames to its link (`LinkFrameSize`). Set on the event loop.
    public var dataFrameLimit: Int
    /// Streams that passed `bulkAfter` during the current `mem_send` (`applyBulkUrgency`).
    var turnedBulk: [HTTP2Stream] = []
    /// Streams told DATA since the last `receiveDidEnd` (`endDataBurst`).
    private var dataBurst: [HTTP2Stream] = []

    public init(role: Role, settings: HTTP2Settings, eventLoop: EventLoop, delegate: HTTP2ConnectionDelegate?) {
        self.role = role
        self.settings = settings
        self.eventLoop = eventLoop
        self.delegate = delegate
        self.receiveBudget = ReceiveBudget(budget: settings.receiveBudget)
        self.dataFrameLimit = settings.maxFrameSize
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: Driving

    /// The transport is up: the session starts, and our preface and SETTINGS go out.
    public func start(transport: HTTP2Transport) {
        self.transport = transport
        frameAllocator = transport.frameAllocator
        do {
            session = try makeSession(role: role, settings: settings)
        } catch {
            fail("cannot start HTTP/2: \(error)")
            return
        }
        startLiveness()
        flushNow()
    }

    /// Plaintext from the peer. Delegates hear of it before this returns; DATA a stream was
    /// told is written onward at `receiveDidEnd()`.
    public func receive(_ buffer: ByteBuffer) {
        guard let session, !isClosed else { return }
        let rc = buffer.withUnsafeReadableBytes { bytes -> Int in
            guard let base = bytes.baseAddress else { return 0 }
            input = (base, buffer)
            defer { input = nil }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        dispatchEvents()
        if rc < 0 {
            flushNow()
            fail("HTTP/2 protocol error from peer: \(HTTP2Error.nghttp2("mem_recv", rc))")
        }
    }

    /// One read of the transport is over (its bytes came through `receive`): streams finish
    /// their burst, and what they and nghttp2 queued leaves in one pass.
    public func receiveDidEnd() {
        endDataBurst()
        flushNow()
    }

    /// The transport can take frames again after `canTakeFrames` said no.
    public func transportBecameWritable() {
        if flushing { writableDuringFlush = true } else { flushNow() }
    }

    /// The transport failed or the peer closed its side: the connection closes the
    /// transport, and `reason` is what its delegate is told once it closed.
    public func transportFailed(_ reason: String) {
        fail(reason)
    }

    /// The transport is closed: every stream is cancelled and the delegate told.
    public func transportClosed() {
        connectionLost(reason: closeReason ?? (isDraining ? nil : "connection closed"))
    }

    // MARK: Public API

    /// The peer's SETTINGS arrived and it allows extended CONNECT (RFC 8441 §3).
    public var acceptsExtendedConnect: Bool {
        guard let session, isReady else { return false }
        return nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
    }

    public var openStreamCount: Int { streams.count }

    /// Whether a new stream may be opened now: ready, not draining, under the peer's limit.
    public var canOpenStream: Bool {
        guard let session, isReady, !isDraining, !isClosed else { return false }
        let limit = nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
        return streams.count < Int(limit)
    }

    /// Client role: opens a stream whose body is what `HTTP2Stream.write` queues.
    /// Without a body, END_STREAM rides on the HEADERS frame.
    public func openStream(headers: [(String, String)], delegate: HTTP2StreamDelegate,
                           hasBody: Bool = true) throws -> HTTP2Stream {
        eventLoop.preconditionInEventLoop()
        guard let session, role == .client, canOpenStream else {
            throw HTTP2Error("connection cannot open a stream now")
        }
        var provider = dataProvider()
        let id = withHeaderBlock(headers) { nva, count in
            hasBody ? nghttp2_submit_request(session, nil, nva, count, &provider, nil)
                    : nghttp2_submit_request(session, nil, nva, count, nil, nil)
        }
        guard id > 0 else { throw HTTP2Error.nghttp2("submit_request", Int(id)) }
        let stream = HTTP2Stream(id: id, connection: self)
        stream.delegate = delegate
        streams[id] = stream
        scheduleFlush()
        return stream
    }

    /// Client role: `settings.lifetimeStreams` streams were opened. The owner should drain
    /// this connection so its peer dials another.
    public var isSpent: Bool {
        guard let session, role == .client else { return false }
        // Client stream IDs are 1, 3, 5, …: the next one tells how many were used.
        let opened = (Int(nghttp2_session_get_next_stream_id(session)) - 1) / 2
        return opened >= settings.lifetimeStreams
    }

    /// Stops new streams, tells the peer (GOAWAY, RFC 9113 §6.8) and closes once the open
    /// streams have finished. `closingIdleStreams` (a process stopping): streams idle for a
    /// sweep interval are closed too, rather than waited for (`sweepIdleStreams`).
    public func drain(closingIdleStreams: Bool = false) {
        eventLoop.preconditionInEventLoop()
        guard let session, !isClosed else { return }
        if closingIdleStreams, idleSweep == nil { sweepIdleStreams() }
        guard !isDraining else { return }
        isDraining = true
        let last = role == .server ? nghttp2_session_get_last_proc_stream_id(session) : 0
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, HTTP2ErrorCode.noError, nil, 0)
        flushNow()
        closeIfDrained()
    }

    /// Sends a PING and completes with the round-trip time when its ACK arrives (h2probe).
    public func measurePing() -> EventLoopFuture<TimeAmount> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: TimeAmount.self)
        guard session != nil, !isClosed else {
            promise.fail(HTTP2Error("connection closed"))
            return promise.futureResult
        }
        submitPing(promise: promise)
        flushNow()
        return promise.futureResult
    }

    /// Sends what is queued now rather than at the end of this loop tick: a new tunnel's
    /// first flight (HEADERS + ClientHello) should not wait for anything.
    public func flush() {
        eventLoop.preconditionInEventLoop()
        flushNow()
    }

    /// Closes now; open streams are lost (CANCEL for their delegates).
    public func close(reason: String) {
        eventLoop.preconditionInEventLoop()
        fail(reason)
    }

    /// The open stream `id`. The one found last is kept aside: a request's frames, both
    /// ways, are mostly one stream's, and a dictionary lookup hashes the id (SipHash,
    /// ~250 instructions, five lookups a keep-alive request). IDs are never reused, so
    /// only a removal makes the kept one stale.
    func stream(_ id: Int32) -> HTTP2Stream? {
        if let last = lastFound, last.id == id { return last }
        guard let found = streams[id] else { return nil }
        lastFound = found
        return found
    }

    // MARK: Used by HTTP2Stream

    func enqueue(_ event: Event) { events.append(event) }

    func resumeData(_ stream: HTTP2Stream) {
        guard let session else { return }
        restoreUrgency(stream)
        _ = nghttp2_session_resume_data(session, stream.id)
    }

    func resetStream(_ stream: HTTP2Stream, code: UInt32) {
        guard let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, code)
        scheduleFlush()
    }

    func consume(_ stream: HTTP2Stream, count: Int) {
        guard let session else { return }
        let credit = receiveBudget.released(count)
        giveBackConnection(credit)
        if !stream.isClosed {
            giveBack(count, of: stream)
            tuneWindow(stream, consumed: count)
        }
        stream.lastProgress = eventLoop.now
        // Most writes onward give back less than a quarter window and queue no
        // WINDOW_UPDATE: no pass (a task, `mem_send`) is needed for them.
        if nghttp2_session_want_write(session) != 0 { scheduleFlush() }
    }

    func submitResponse(_ stream: HTTP2Stream, status: Int, headers: [(String, String)], withBody: Bool) throws {
        guard let session else { throw HTTP2Error("connection closed") }
        let block = [(":status", String(status))] + headers
        var provider = dataProvider()
        let rc = withHeaderBlock(block) { nva, count in
            withBody ? nghttp2_submit_response(session, stream.id, nva, count, &provider)
                     : nghttp2_submit_response(session, stream.id, nva, count, nil)
        }
        guard rc == 0 else { throw HTTP2Error.nghttp2("submit_response", Int(rc)) }
        stream.responded = true
        scheduleFlush()
    }

    /// Coalesces output: many stream writes in one loop tick become one `mem_send` pass.
    func scheduleFlush() {
        guard !flushScheduled, !flushing else { return }
        flushScheduled = true
        eventLoop.execute { self.flushNow() }
    }

    // MARK: Output

    /// Moves frames from nghttp2 to the transport while it can take them, then flushes
    /// once. A transport that is not writable stops us: the peer's slowness becomes
    /// our streams' backpressure rather than our memory.
    func flushNow() {
        flushScheduled = false
        guard let session, let transport, !flushing, !isClosed else { return }
        flushing = true
        var wrote = false
        while transport.canTakeFrames {
            var data: UnsafePointer<UInt8>? = nil
            // DATA frames arrive through `sendData` during this call; other frames are returned.
            let count = nghttp2_session_mem_send(session, &data)
            if count < 0 {
                flushing = false
                fail("HTTP/2 send failed: \(HTTP2Error.nghttp2("mem_send", count))")
                return
            }
            if count > 0, let data {
                appendOutput(UnsafeRawBufferPointer(start: data, count: count))
            }
            applyBulkUrgency()
            if let out = output, out.readableBytes >= Self.writeChunk || count == 0 {
                transport.takeFrames(out)
                output = nil
                wrote = true
            }
            if count == 0 { break }
        }
        if let out = output {
            transport.takeFrames(out)
            output = nil
            wrote = true
        }
        if wrote || wroteDirectly { transport.flushFrames() }
        wroteDirectly = false
        flushing = false
        dispatchEvents()
        closeIfDrained()
        if writableDuringFlush {
            writableDuringFlush = false
            if transport.canTakeFrames { scheduleFlush() }
        }
    }

    /// Output is handed to TLS in chunks of this size: four full TLS records per write.
    static let writeChunk = 64 * 1024
    /// DATA payloads at least this large go down the pipeline as the stream's own buffers
    /// rather than being copied behind their frame header: TLS encrypts them in place of
    /// a copy, at the price of one small record for the header (~5 % of agent CPU).
    static let directPayload = 4 * 1024
    /// Received DATA below this size is copied out of a large read buffer (see `onDataChunk`).
    static let copiedPayload = 16 * 1024

    func appendOutput(_ bytes: UnsafeRawBufferPointer) {
        if output == nil { output = frameAllocator.buffer(capacity: Self.writeChunk + 16 * 1024) }
        output!.writeBytes(bytes)
    }

    /// nghttp2's send_data_callback: the 9-byte frame header, then the payload straight from
    /// the stream's queue (no padding: no padding callback is set).
    func sendData(streamID: Int32, header: UnsafePointer<UInt8>, length: Int) -> Int32 {
        guard let stream = self.stream(streamID), let transport else { return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        // One `mem_send` call goes on to the next DATA frame by itself, as far as the flow
        // windows allow (16 MiB for the connection); only this stops it. Without it a slow
        // agent uplink would queue megabytes in NIO, ahead of PING ACKs, WINDOW_UPDATEs
        // and the next page's HEADERS. nghttp2 offers this frame again on the next call.
        guard transport.canTakeFrames else { return Int32(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
        appendOutput(UnsafeRawBufferPointer(start: header, count: 9))
        if length < Self.directPayload {
            stream.send(length) { output!.writeImmutableBuffer($0) }
        } else {
            transport.takeFrames(output!)
            output = nil
            wroteDirectly = true
            stream.send(length) { transport.takeFrames($0) }
        }
        return 0
    }

    private func closeIfDrained() {
        guard let session, !isClosed else { return }
        let done = isDraining && streams.isEmpty
        if done || (nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0) {
            isClosed = true
            transport?.closeTransport()
        }
    }

    // MARK: Events

    /// Events are told from a batch taken off the queue, so a delegate may queue more. The
    /// two arrays trade places and keep their storage: no allocation per read or pass.
    func dispatchEvents() {
        while !events.isEmpty {
            var batch: [Event] = []
            swap(&batch, &spareEvents)
            swap(&batch, &events)
            for event in batch { dispatch(event) }
            batch.removeAll(keepingCapacity: true)
            spareEvents = batch
        }
    }

    private func dispatch(_ event: Event) {
        switch event {
        case .request(let id):
            guard let stream = self.stream(id) else { return }
            delegate?.connection(self, didReceiveRequest: stream)
            // Neither taken nor answered: refuse it rather than leave it open forever.
            if stream.delegate == nil && !stream.responded && !stream.isClosed { stream.reset(HTTP2ErrorCode.refusedStream) }
        case .headers(let id):
            guard let stream = self.stream(id) else { return }
            stream.delegate?.stream(stream, didReceiveHeaders: stream.headers)
        case .data(let id, let data):
            guard let stream = self.stream(id) else { return }
            hold(data.readableBytes, for: stream)
            stream.activity &+= 1
            stream.delegate?.stream(stream, didReceiveData: data)
            if !stream.inDataBurst {
                stream.inDataBurst = true
                dataBurst.append(stream)
            }
        case .end(let id):
            guard let stream = self.stream(id) else { return }
            stream.delegate?.streamDidReceiveEnd(stream)
        case .closed(let id, let code):
            guard let stream = streams.removeValue(forKey: id) else { return }
            if lastFound === stream { lastFound = nil }
            finish(stream, code: code)
        case .writable(let id):
            guard let stream = self.stream(id) else { return }
            stream.delegate?.streamWritabilityChanged(stream)
        case .settings:
            guard !isReady else { return }
            isReady = true
            // PINGs at once (`startPings`): the round-trip time is known before the first
            // window fills. Not without liveness PINGs (h2probe): it sends only what it was
            // asked to.
            if settings.pingInterval != nil {
                startPingsLeft = Self.startPings - 1
                submitPing()
                scheduleFlush()
            }
            delegate?.connectionDidBecomeReady(self)
        case .pingAck(let payload):
            if let index = pingsInFlight.firstIndex(where: { $0.payload == payload }) {
                let ping = pingsInFlight.remove(at: index)
                if ping.liveness {
                    pingDeadline?.cancel()
                    pingDeadline = nil
                }
                let rtt = eventLoop.now - ping.sent
                let smallest = min(minRTT ?? rtt, rtt)
                minRTT = smallest
                ping.promise?.succeed(rtt)
                delegate?.connection(self, didMeasureRoundTrip: smallest)
                if !ping.liveness, ping.promise == nil, startPingsLeft > 0 {
                    startPingsLeft -= 1
                    submitPing()
                    scheduleFlush()
                }
            }
        case .goaway(let code):
            isDraining = true
            delegate?.connectionDidReceiveGoAway(self, errorCode: code)
        }
    }

    /// Tells each stream that got DATA in this read that the read is over, before the
    /// pass that follows it: what a splice then writes onward and gives back leaves in
    /// that same pass. Cheaper than a task per stream and read (`execute`, ~1,300
    /// instructions). By index: a delegate may add to the list while it is told.
    private func endDataBurst() {
        var index = 0
        while index < dataBurst.count {
            let stream = dataBurst[index]
            stream.inDataBurst = false
            stream.delegate?.streamDidEndDataBurst(stream)
            index += 1
        }
        dataBurst.removeAll(keepingCapacity: true)
    }

    /// A closed stream's unconsumed bytes go back to the connection window, so a stream
    /// that died with data in hand does not shrink the window for every other stream.
    private func finish(_ stream: HTTP2Stream, code: UInt32) {
        stream.isClosed = true
        if stream.unconsumed > 0, session != nil {
            giveBackConnection(receiveBudget.released(stream.unconsumed))
            stream.unconsumed = 0
        }
        stream.delegate?.streamDidClose(stream, errorCode: code)
        stream.delegate = nil
    }

    // MARK: Failure

    private func fail(_ reason: String) {
        guard !isClosed else { return }
        isClosed = true
        closeReason = reason
        transport?.closeTransport()
    }

    private func connectionLost(reason: String?) {
        isClosed = true
        pingTask?.cancel()
        pingDeadline?.cancel()
        stallCheck?.cancel()
        idleSweep?.cancel()
        windowCheck?.cancel()
        let lost = streams.values
        streams = [:]
        lastFound = nil
        dataBurst = []
        let pings = pingsInFlight
        pingsInFlight = []
        for ping in pings { ping.promise?.fail(HTTP2Error("connection closed")) }
        for stream in lost { finish(stream, code: HTTP2ErrorCode.cancel) }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.connectionDidClose(self, reason: reason)
        transport = nil
    }

    // MARK: Liveness

    /// PING every interval; no ACK within the timeout closes the connection (a peer that is
    /// gone without a FIN — a dead NAT, a frozen host — is found in bounded time).
    /// The tasks hold the handler strongly (no `weak`: see `HTTP2Stream.delegate`) and are
    /// cancelled when the connection is lost.
    private func startLiveness() {
        guard let interval = settings.pingInterval else { return }
        pingTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            self.sendPing()
        }
    }

    /// Queues a PING; its ACK gives a round-trip sample, completes `promise` and, for a
    /// liveness PING, disarms the timeout.
    private func submitPing(liveness: Bool = false, promise: EventLoopPromise<TimeAmount>? = nil) {
        let payload = nextPingPayload
        nextPingPayload &+= 1
        let rc = withUnsafeBytes(of: payload) { bytes -> Int32 in
            guard let session else { return -1 }
            return nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        guard rc == 0 else {
            promise?.fail(HTTP2Error("cannot send PING"))
            return
        }
        pingsInFlight.append((payload, eventLoop.now, liveness, promise))
    }

    private func sendPing() {
        guard !isClosed, pingDeadline == nil else { return }
        submitPing(liveness: true)
        pingDeadline = eventLoop.scheduleTask(in: settings.pingTimeout) {
            self.pingDeadline = nil
            self.fail("PING not acknowledged within \(self.settings.pingTimeout.nanoseconds / 1_000_000) ms")
        }
        flushNow()
    }
}
