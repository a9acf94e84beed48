import H2TunnelHTTP2
import NIOCore
import NIOEmbedded
import Testing

/// A client and a server HTTP2ConnectionHandler wired back to back in memory.
final class Recorder: HTTP2StreamDelegate, HTTP2ConnectionDelegate {
    var ready = false
    var requests: [HTTP2Stream] = []
    var headers: [HTTP2Headers] = []
    var received = ByteBuffer()
    var chunks = 0
    /// The most read-buffer storage one received DATA chunk kept alive, per byte of it.
    var pinnedPerByte = 0
    var ended = false
    var closedWith: UInt32?
    /// `isWritable` at each writability notification.
    var writability: [Bool] = []
    var onRequest: ((HTTP2Stream) -> Void)?
    /// A reader as fast as the path: every DATA is written onward (consumed) as it arrives.
    var writesOnwardAtOnce = false
    /// Streams the connection reset as stalled.
    var stalledResets: [Int32] = []
    /// What `connectionDidClose` was told.
    var closedReason: String?

    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) { ready = true }
    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        requests.append(stream)
        stream.delegate = self
        onRequest?(stream)
    }
    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {}
    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) { closedReason = reason }
    func connection(_ connection: HTTP2ConnectionHandler, willResetStalledStream stream: HTTP2Stream, heldBytes: Int) {
        stalledResets.append(stream.id)
    }
    func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers) { self.headers.append(headers) }
    func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer) {
        if writesOnwardAtOnce { stream.consume(data.readableBytes) }
        pinnedPerByte = max(pinnedPerByte, data.storageCapacity / max(1, data.readableBytes))
        var data = data
        received.writeBuffer(&data)
        chunks += 1
    }
    func streamDidReceiveEnd(_ stream: HTTP2Stream) { ended = true }
    func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32) { closedWith = errorCode }
    func streamWritabilityChanged(_ stream: HTTP2Stream) { writability.append(stream.isWritable) }
}

/// Marks an EmbeddedChannel unwritable once `limit` bytes were written through it, as
/// NIO does above its high watermark.
final class WritabilityGate: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    let channel: EmbeddedChannel
    let limit: Int
    var written = 0

    init(channel: EmbeddedChannel, limit: Int) {
        self.channel = channel
        self.limit = limit
    }

    /// Like a socket that takes everything at once: writable again during the flush itself.
    var drainsOnFlush = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        written += unwrapOutboundIn(data).readableBytes
        if written >= limit { channel.isWritable = false }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if drainsOnFlush && !channel.isWritable {
            written = 0
            channel.isWritable = true
            context.pipeline.fireChannelWritabilityChanged()
        }
    }
}

struct Pair {
    let loop = EmbeddedEventLoop()
    let client: HTTP2ConnectionHandler
    let server: HTTP2ConnectionHandler
    let clientChannel: EmbeddedChannel
    let serverChannel: EmbeddedChannel
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init(client configure: (inout HTTP2Settings) -> Void = { _ in },
         server configureServer: (inout HTTP2Settings) -> Void = { _ in }) throws {
        var serverSettings = HTTP2Settings()
        serverSettings.enableConnectProtocol = true
        serverSettings.pingInterval = nil
        configureServer(&serverSettings)
        var clientSettings = HTTP2Settings()
        clientSettings.pingInterval = nil
        configure(&clientSettings)
        client = HTTP2ConnectionHandler(role: .client, settings: clientSettings, eventLoop: loop, delegate: clientRecorder)
        server = HTTP2ConnectionHandler(role: .server, settings: serverSettings, eventLoop: loop, delegate: serverRecorder)
        clientChannel = EmbeddedChannel(loop: loop)
        serverChannel = EmbeddedChannel(loop: loop)
        try clientChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try serverChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        try clientChannel.pipeline.syncOperations.addHandler(client)
        try serverChannel.pipeline.syncOperations.addHandler(server)
    }

    static let connect = [(":method", "CONNECT"), (":protocol", "h2tunnel-tls"), (":scheme", "https"),
                          (":authority", "acme.tunnel.localhost:443"), (":path", "/")]

    /// The server answers every request 200; then a CONNECT stream is opened for `delegate`
    /// (not yet pumped, so the caller may queue a body first).
    func openTunnel(delegate: Recorder) throws -> HTTP2Stream {
        serverRecorder.onRequest = { stream in try? stream.respond(status: 200, withBody: true) }
        try pump()
        return try client.openStream(headers: Self.connect, delegate: delegate)
    }

    /// A tunnel whose client end is spliced into a socket (an EmbeddedChannel), answered
    /// 200; returns the socket and the server's end of the stream.
    func splicedTunnel() throws -> (socket: EmbeddedChannel, server: HTTP2Stream) {
        serverRecorder.onRequest = { stream in try? stream.respond(status: 200, withBody: true) }
        try pump()
        let splice = StreamSplice(streamLoop: loop, channelLoop: loop)
        let socket = EmbeddedChannel(loop: loop)
        try socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3)).wait()
        try socket.pipeline.syncOperations.addHandler(SpliceChannelHandler(splice: splice))
        splice.attach(stream: try client.openStream(headers: Self.connect, delegate: splice))
        try pump()
        return (socket, serverRecorder.requests[0])
    }

    /// Opens a tunnel whose client channel turns unwritable after `limit` bytes.
    func gatedTunnel(limit: Int, drainsOnFlush: Bool = false) throws -> (HTTP2Stream, WritabilityGate) {
        let stream = try openTunnel(delegate: Recorder())
        try pump()
        let gate = WritabilityGate(channel: clientChannel, limit: limit)
        gate.drainsOnFlush = drainsOnFlush
        try clientChannel.pipeline.syncOperations.addHandler(gate, position: .first)
        return (stream, gate)
    }

    /// `count` bytes of a pattern that repeats rarely, so a lost or reordered chunk shows.
    static func patterned(_ count: Int, step: Int) -> ByteBuffer {
        var payload = ByteBuffer()
        for i in 0..<count { payload.writeInteger(UInt8(truncatingIfNeeded: i &* step)) }
        return payload
    }

    /// Like `pump`, but every flight takes `delay` on its way: a long path. At most
    /// `flights` rounds of them.
    func pump(delay: TimeAmount, flights: Int = 1000) throws {
        for _ in 0..<flights {
            loop.run()
            var flights: [(EmbeddedChannel, ByteBuffer)] = []
            while let out = try clientChannel.readOutbound(as: ByteBuffer.self) { flights.append((serverChannel, out)) }
            while let out = try serverChannel.readOutbound(as: ByteBuffer.self) { flights.append((clientChannel, out)) }
            if flights.isEmpty { return }
            loop.advanceTime(by: delay)
            for (channel, bytes) in flights { try channel.writeInbound(bytes) }
        }
    }

    /// Moves bytes both ways until both sides are quiet.
    func pump() throws {
        for _ in 0..<1000 {
            loop.run()
            var moved = false
            while let out = try clientChannel.readOutbound(as: ByteBuffer.self) {
                try serverChannel.writeInbound(out)
                moved = true
            }
            while let out = try serverChannel.readOutbound(as: ByteBuffer.self) {
                try clientChannel.writeInbound(out)
                moved = true
            }
            loop.run()
            if !moved { return }
        }
    }
}

@Suite struct HTTP2PairTests {

    @Test func extendedConnectNeedsTheServersSetting() throws {
        let pair = try Pair()
        try pair.pump()
        #expect(pair.clientRecorder.ready && pair.serverRecorder.ready)
        #expect(pair.client.acceptsExtendedConnect)
        #expect(!pair.server.acceptsExtendedConnect)   // the relay never advertises it
    }

    /// nghttp2 sends DATA frame after frame within one `mem_send` call as far as the
    /// windows allow; a channel that stops being writable stops them within one frame,
    /// and the rest follows once it is writable again.
    @Test func dataWaitsWhileTheChannelIsFull() throws {
        let pair = try Pair()
        let (stream, gate) = try pair.gatedTunnel(limit: 128 * 1024)
        let payload = Pair.patterned(1 << 20, step: 13)
        stream.write(payload)
        pair.loop.run()
        #expect(gate.written >= gate.limit)
        #expect(gate.written <= gate.limit + HTTP2Settings().maxFrameSize + 9)

        pair.clientChannel.isWritable = true
        gate.written = -(1 << 30)
        pair.clientChannel.pipeline.fireChannelWritabilityChanged()
        try pair.pump()
        #expect(pair.serverRecorder.received == payload)
    }

    /// The channel turns writable again inside the connection's own flush (NIO does that
    /// when the socket takes everything): the connection must go on sending, not wait
    /// for an event that already came.
    @Test func dataGoesOnWhenTheChannelDrainsDuringTheFlush() throws {
        let pair = try Pair()
        let (stream, _) = try pair.gatedTunnel(limit: 128 * 1024, drainsOnFlush: true)
        let payload = Pair.patterned(1 << 20, step: 17)
        stream.write(payload)
        try pair.pump()
        #expect(pair.serverRecorder.received == payload)
    }

    /// A source paused above the high watermark hears "writable" once the queue is below
    /// the low one, even when a write landed while the queue was between the two.
    @Test func aWriteBetweenTheWatermarksKeepsTheResumeEvent() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        let window = HTTP2Settings().initialStreamWindow
        stream.write(Pair.patterned(window + 700 * 1024, step: 5))
        try pair.pump()
        #expect(!stream.isWritable)

        // Half a window of credit leaves 188 KiB queued: between the watermarks.
        let server = pair.serverRecorder.requests[0]
        server.consume(window / 2)
        try pair.pump()
        #expect(stream.isWritable && recorder.writability.isEmpty)
        stream.write(Pair.patterned(10 * 1024, step: 5))

        server.consume(window / 2)
        try pair.pump()
        server.consume(window)
        try pair.pump()
        #expect(pair.serverRecorder.received.readableBytes == window + 710 * 1024)
        #expect(recorder.writability == [true])
    }

    /// Small DATA in a large read buffer is copied out rather than sliced: a slice
    /// waiting for a slow socket would keep the whole buffer alive.
    @Test func smallDataDoesNotPinItsReadBuffer() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        let server = pair.serverRecorder.requests[0]
        for i in 0..<20 {
            server.write(ByteBuffer(string: "event \(i)\n"))
            try pair.pump()
        }
        server.write(Pair.patterned(200_000, step: 3))
        try pair.pump()
        #expect(recorder.chunks > 20 && recorder.received.readableBytes > 200_000)
        #expect(recorder.pinnedPerByte <= 4)
        stream.reset(HTTP2ErrorCode.cancel)
    }

    /// A client connection says when it has opened its lifetime's streams.
    @Test func aConnectionIsSpentAfterItsLifetimeStreams() throws {
        let pair = try Pair { $0.lifetimeStreams = 3 }
        var spent: [Bool] = []
        for _ in 0..<5 {
            _ = try pair.openTunnel(delegate: Recorder())
            spent.append(pair.client.isSpent)
        }
        #expect(spent == [false, false, true, true, true])
        #expect(!pair.server.isSpent)
    }

    /// The far end resets with NO_ERROR while the socket still reads (RFC 9113 §8.1):
    /// the socket gets what was sent and is closed, not left open with its bytes dropped.
    @Test func aNoErrorResetClosesTheSocket() throws {
        let pair = try Pair()
        let (socket, server) = try pair.splicedTunnel()
        // DATA and the reset reach the splice before its write batch runs: the DATA must
        // still be written.
        server.write(ByteBuffer(string: "bye"))
        pair.loop.run()
        server.reset(HTTP2ErrorCode.noError)
        try pair.pump()
        #expect(try socket.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "bye")
        #expect(!socket.isActive)
    }

    /// The DATA of one read goes to the socket when the read ends, every frame of it in
    /// one write batch: not frame by frame, and not in a task of its own.
    @Test func aReadsDataReachesTheSocketWhenTheReadEnds() throws {
        let pair = try Pair()
        let (socket, server) = try pair.splicedTunnel()
        var frames: [ByteBuffer] = []
        for text in ["one ", "two"] {
            server.write(ByteBuffer(string: text))
            pair.loop.run()
            while let out = try pair.serverChannel.readOutbound(as: ByteBuffer.self) { frames.append(out) }
        }
        #expect(frames.count == 2)
        // One read that carries both frames (`writeInbound` would end a read per frame).
        for frame in frames { pair.clientChannel.pipeline.syncOperations.fireChannelRead(NIOAny(frame)) }
        pair.loop.run()
        #expect(try socket.readOutbound(as: ByteBuffer.self) == nil)
        pair.clientChannel.pipeline.syncOperations.fireChannelReadComplete()
        var written: [String] = []
        while let out = try socket.readOutbound(as: ByteBuffer.self) { written.append(String(buffer: out)) }
        #expect(written == ["one ", "two"])
    }

    /// Credit follows consumption: with nothing consumed the sender stops exactly at the
    /// stream window; each consume lets exactly that much more through.
    @Test func flowControlFollowsConsumption() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        let payload = Pair.patterned(3 << 20, step: 31)
        stream.write(payload)
        stream.end()
        try pair.pump()
        #expect(recorder.headers.first?[":status"] == "200")
        let window = HTTP2Settings().initialStreamWindow
        #expect(pair.serverRecorder.received.readableBytes == window)
        var rounds = 0
        while pair.serverRecorder.received.readableBytes < payload.readableBytes && rounds < 100 {
            let before = pair.serverRecorder.received.readableBytes
            pair.serverRecorder.requests[0].consume(before)
            try pair.pump()
            #expect(pair.serverRecorder.received.readableBytes > before)
            rounds += 1
        }
        #expect(pair.serverRecorder.received == payload)
        #expect(pair.serverRecorder.ended)

        let serverStream = pair.serverRecorder.requests[0]
        serverStream.consume(payload.readableBytes)
        serverStream.write(ByteBuffer(string: "bye"))
        serverStream.end()
        try pair.pump()
        #expect(String(buffer: recorder.received) == "bye")
        #expect(recorder.ended && recorder.closedWith == 0 && pair.serverRecorder.closedWith == 0)
        #expect(pair.client.openStreamCount == 0 && pair.server.openStreamCount == 0)
    }

    /// A held 200 stays unsent until the stream has DATA, then leaves with it in one write,
    /// so the client is woken once for both.
    @Test func heldResponseLeavesWithTheFirstData() throws {
        let pair = try Pair()
        pair.serverRecorder.onRequest = { stream in try? stream.respondWithFirstData(status: 200) }
        try pair.pump()
        let recorder = Recorder()
        _ = try pair.client.openStream(headers: Pair.connect, delegate: recorder)
        try pair.pump()
        #expect(pair.serverRecorder.requests.count == 1)
        #expect(recorder.headers.isEmpty)

        pair.serverRecorder.requests[0].write(ByteBuffer(string: "server hello"))
        pair.loop.run()
        var writes: [ByteBuffer] = []
        while let out = try pair.serverChannel.readOutbound(as: ByteBuffer.self) { writes.append(out) }
        #expect(writes.count == 1)
        for out in writes { try pair.clientChannel.writeInbound(out) }
        pair.loop.run()
        #expect(recorder.headers.first?[":status"] == "200")
        #expect(String(buffer: recorder.received) == "server hello")
    }

    /// A held 200 goes with END_STREAM when the stream ends without DATA; a reset before
    /// any DATA is a bare RST_STREAM, never a 200.
    @Test func heldResponseEndsOrIsDroppedByReset() throws {
        let pair = try Pair()
        pair.serverRecorder.onRequest = { stream in try? stream.respondWithFirstData(status: 200) }
        try pair.pump()
        let ending = Recorder(), resetting = Recorder()
        _ = try pair.client.openStream(headers: Pair.connect, delegate: ending)
        _ = try pair.client.openStream(headers: Pair.connect, delegate: resetting)
        try pair.pump()
        #expect(pair.serverRecorder.requests.count == 2)
        pair.serverRecorder.requests[0].end()
        pair.serverRecorder.requests[1].reset(HTTP2ErrorCode.connectError)
        try pair.pump()
        #expect(ending.headers.first?[":status"] == "200")
        #expect(ending.ended && ending.received.readableBytes == 0)
        #expect(resetting.headers.isEmpty)
        #expect(resetting.closedWith == HTTP2ErrorCode.connectError)
    }

    @Test func resetArrivesAsReset() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        stream.reset(HTTP2ErrorCode.connectError)
        try pair.pump()
        #expect(pair.serverRecorder.closedWith == HTTP2ErrorCode.connectError)
    }

    @Test func goawayDrainsAndRefusesNewStreams() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        pair.server.drain()
        try pair.pump()
        #expect(!pair.client.canOpenStream)
        #expect(throws: HTTP2Error.self) { try pair.client.openStream(headers: Pair.connect, delegate: Recorder()) }
        // The open stream still finishes.
        stream.write(ByteBuffer(string: "last"))
        stream.end()
        pair.serverRecorder.requests[0].end()
        try pair.pump()
        #expect(String(buffer: pair.serverRecorder.received) == "last")
        #expect(recorder.closedWith == 0)
    }
}

/// Records the DATA frames one side sends.
final class DataFrameLog: HTTP2FrameObserver {
    var lengths: [Int] = []
    func observe(_ frame: HTTP2FrameInfo) {
        if frame.direction == .sent && frame.type == 0 { lengths.append(frame.length) }
    }
}

@Suite struct HTTP2FrameSizeTests {
    /// Both ends advertise 64 KiB frames and fill them: a 1 MiB body leaves in 16 DATA
    /// frames, not nghttp2's default 64 of 16 KiB, and every byte arrives in order.
    @Test func dataFramesFillTheAdvertisedSize() throws {
        let pair = try Pair()
        let log = DataFrameLog()
        pair.client.frameObserver = log
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        let payload = Pair.patterned(1 << 20, step: 7)
        stream.write(payload)
        stream.end()
        try pair.pump()
        #expect(pair.serverRecorder.received == payload)
        #expect(log.lengths.max() == HTTP2Settings().maxFrameSize)
        #expect(log.lengths.count == (1 << 20) / HTTP2Settings().maxFrameSize)   // END_STREAM rides on the last
    }

    /// An owner that sizes frames to its link (`LinkFrameSize`) gets frames of that size.
    @Test func dataFramesFollowTheLimitTheOwnerSets() throws {
        let pair = try Pair()
        let log = DataFrameLog()
        pair.client.frameObserver = log
        pair.client.dataFrameLimit = 16 * 1024
        let stream = try pair.openTunnel(delegate: Recorder())
        let payload = Pair.patterned(256 * 1024, step: 11)
        stream.write(payload)
        stream.end()
        try pair.pump()
        #expect(pair.serverRecorder.received == payload)
        #expect(log.lengths.allSatisfy { $0 == 16 * 1024 } && log.lengths.count == 16)
    }
}
