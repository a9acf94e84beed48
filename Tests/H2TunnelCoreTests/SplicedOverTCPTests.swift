import H2TunnelHTTP2
import NIOCore
import NIOPosix
import Testing

/// The app of these tests: echoes every byte, and closes once the splice ended its input
/// and every echoed byte is out; `closed` tells whether that input ended with a FIN (true)
/// or the socket was reset.
private final class EchoApp: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let closed: EventLoopPromise<Bool>
    private var sawFIN = false

    init(closed: EventLoopPromise<Bool>) { self.closed = closed }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else { return }
        sawFIN = true
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
            .whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { closed.succeed(sawFIN) }
}

/// The agent's end: splices each CONNECT stream into a new connection to the app, whose
/// socket has a 4 KiB send buffer.
final class SplicingEnd: HTTP2ConnectionDelegate, @unchecked Sendable {
    let loop: EventLoop
    let app: SocketAddress
    var splices: [StreamSplice] = []
    var channels: [Channel] = []

    init(loop: EventLoop, app: SocketAddress) {
        self.loop = loop
        self.app = app
    }

    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) {}
    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        try? stream.respond(status: 200, withBody: true)
        let splice = StreamSplice(streamLoop: loop, channelLoop: loop)
        splices.append(splice)
        splice.optionsAfterFirstWrite = [(.socketOption(.so_keepalive), 1)]
        splice.attach(stream: stream)
        ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.so_sndbuf), value: 4096)
            .connect(to: app)
            .whenSuccess { channel in
                self.channels.append(channel)
                try? channel.pipeline.syncOperations.addHandler(SpliceChannelHandler(splice: splice))
            }
    }
    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {}
    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {}
}

/// A tunnel spliced into a real loopback socket that is mostly full: the splice writes what
/// the socket takes itself (`SocketWriter`), hands the rest to NIO, and writes itself again
/// only once NIO is done. HTTP/2 runs on plain TCP here; the app echoes.
@Suite struct SplicedOverTCPTests {
    struct Setup {
        let group: MultiThreadedEventLoopGroup
        let loop: EventLoop
        let appClosed: EventLoopPromise<Bool>
        let relay: HTTP2ConnectionHandler
        let agentEnd: SplicingEnd
        let channels: [Channel]

        func close() async throws {
            for channel in channels { try? await channel.close() }
            try await group.shutdownGracefully()
        }
    }

    func setUp() async throws -> (Setup, BulkEnd) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let appClosed = loop.makePromise(of: Bool.self)
        let app = try await ServerBootstrap(group: loop)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoApp(closed: appClosed))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let agentEnd = SplicingEnd(loop: loop, app: app.localAddress!)
        var settings = HTTP2Settings()
        settings.pingInterval = nil
        let relaySettings = settings
        settings.enableConnectProtocol = true
        let agent = HTTP2ConnectionHandler(role: .server, settings: settings, eventLoop: loop, delegate: agentEnd)
        let server = try await ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(agent) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let relayEnd = BulkEnd(loop: loop)
        let relay = HTTP2ConnectionHandler(role: .client, settings: relaySettings, eventLoop: loop, delegate: relayEnd)
        let client = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(relay) }
            }
            .connect(to: server.localAddress!).get()
        try await relayEnd.ready.futureResult.get()
        return (Setup(group: group, loop: loop, appClosed: appClosed, relay: relay, agentEnd: agentEnd, channels: [client, server, app]), relayEnd)
    }

    /// A stalled transfer or a socket left open fails the test instead of hanging it.
    func deadline(_ setup: Setup, _ ends: BulkEnd...) -> Scheduled<Void> {
        setup.loop.scheduleTask(in: .seconds(60)) {
            setup.appClosed.fail(HTTP2Error("no progress in 60 s"))
            for end in ends { end.ended.fail(HTTP2Error("no progress in 60 s")) }
        }
    }

    /// 2 MiB up and echoed back down, whole and in order, and both ends close cleanly.
    @Test func megabytesThroughAFullSocketArriveInOrder() async throws {
        let (setup, relayEnd) = try await setUp()
        let upload = Pair.patterned(2 << 20, step: 11)
        let timer = deadline(setup, relayEnd)
        try await setup.loop.submit {
            let stream = try setup.relay.openStream(headers: Pair.connect, delegate: relayEnd)
            stream.write(upload)
            stream.end()
        }.get()
        let echoed = try await relayEnd.ended.futureResult.get()
        #expect(echoed == upload)
        #expect(try await setup.appClosed.futureResult.get())
        timer.cancel()
        try await setup.close()
    }

    /// A reset stream resets the app's socket at once, after the splice wrote to it itself:
    /// an RST (SO_LINGER 0), not a FIN, and no descriptor of the splice's keeping the
    /// socket open.
    @Test func aResetReachesTheAppAfterOwnWrites() async throws {
        let (setup, relayEnd) = try await setUp()
        let timer = deadline(setup, relayEnd)
        let stream = try await setup.loop.submit {
            let stream = try setup.relay.openStream(headers: Pair.connect, delegate: relayEnd)
            stream.write(Pair.patterned(1000, step: 3))
            return stream
        }.get()
        // The app echoes the first bytes: the splice is attached and has written them, and
        // set the options it was given for after its first write.
        try await relayEnd.firstData.futureResult.get()
        let keepAlive = try await setup.loop.submit {
            try setup.agentEnd.channels[0].syncOptions?.getOption(.socketOption(.so_keepalive))
        }.get()
        #expect(keepAlive == 1)
        try await setup.loop.submit { stream.reset(HTTP2ErrorCode.cancel) }.get()
        #expect(try await setup.appClosed.futureResult.get() == false)
        timer.cancel()
        try await setup.close()
    }
}
