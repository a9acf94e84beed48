import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore
import NIOPosix
import Testing

/// One end's stream: takes every byte at once (its window goes straight back), completes
/// `firstData` with its first bytes and `ended` with all it got when END_STREAM arrives;
/// the far end of a CONNECT also answers with `reply` once the upload ended.
final class BulkEnd: HTTP2StreamDelegate, HTTP2ConnectionDelegate, @unchecked Sendable {
    let ended: EventLoopPromise<ByteBuffer>
    let ready: EventLoopPromise<Void>
    let firstData: EventLoopPromise<Void>
    var reply: ByteBuffer?
    private var received = ByteBuffer()

    init(loop: EventLoop, reply: ByteBuffer? = nil) {
        ended = loop.makePromise()
        ready = loop.makePromise()
        firstData = loop.makePromise()
        self.reply = reply
    }

    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) { ready.succeed(()) }
    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        stream.delegate = self
        try? stream.respond(status: 200, withBody: true)
    }
    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {}
    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {
        ended.fail(HTTP2Error("connection closed: \(reason ?? "")"))
    }
    func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers) {}
    func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer) {
        var data = data
        stream.consume(data.readableBytes)
        received.writeBuffer(&data)
        firstData.succeed(())
    }
    func streamDidReceiveEnd(_ stream: HTTP2Stream) {
        if let reply {
            stream.write(reply)
            stream.end()
        }
        ended.succeed(received)
    }
    func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32) {}
    func streamWritabilityChanged(_ stream: HTTP2Stream) {}
}

/// An agent connection over real loopback TCP, HTTP/2 carried on TLS at both ends, with
/// send buffers of 4 KiB: most records find the socket full, so each end writes part of
/// them itself (`sendmsg`), hands the rest to NIO, and writes itself again once NIO is
/// done. Megabytes each way must arrive whole and in order.
@Suite struct CarriedOverTCPTests {
    @Test func megabytesBothWaysThroughSmallSendBuffers() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let upload = Pair.patterned(1 << 20, step: 7)
        let download = Pair.patterned(2 << 20, step: 13)
        let agentEnd = BulkEnd(loop: loop, reply: download)
        let relayEnd = BulkEnd(loop: loop)
        var settings = HTTP2Settings()
        settings.pingInterval = nil
        let relaySettings = settings
        settings.enableConnectProtocol = true
        let agentSettings = settings
        let relayContext = try TLSContext(TLSConfiguration(
            role: .server, certificateChainPath: PKIFixture.path("relay.pem"), privateKeyPath: PKIFixture.path("relay.key"),
            trustRootsPath: PKIFixture.path("agent-ca.pem"), alpnProtocols: ["h2"], requireALPN: true))
        let agentContext = try TLSContext(TLSConfiguration(
            role: .client, certificateChainPath: PKIFixture.path("tenants/acme/agent.pem"),
            privateKeyPath: PKIFixture.path("tenants/acme/agent.key"), trustRootsPath: PKIFixture.path("ca.pem"),
            alpnProtocols: ["h2"]))
        let smallBuffer = ChannelOptions.Types.SocketOption(level: .socket, name: .so_sndbuf)

        @Sendable func carry(_ connection: HTTP2ConnectionHandler, over tls: TLSHandler, on channel: Channel) throws {
            try channel.syncOptions?.setOption(smallBuffer, value: 4096)
            try channel.pipeline.syncOperations.addHandlers([
                tls, TLSHandshakeGate(alpn: "h2", onRefused: { _ in }, onReady: { _, _ in tls.carry(connection) }),
            ])
        }
        let relay = HTTP2ConnectionHandler(role: .client, settings: relaySettings, eventLoop: loop, delegate: relayEnd)
        let server = try await ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try carry(relay, over: TLSHandler(connection: try TLSConnection(context: relayContext)), on: channel)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let agent = HTTP2ConnectionHandler(role: .server, settings: agentSettings, eventLoop: loop, delegate: agentEnd)
        let client = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try carry(agent, over: TLSHandler(connection: try TLSConnection(context: agentContext,
                                                                                  serverName: "agents.relay.localhost")), on: channel)
                }
            }
            .connect(to: server.localAddress!).get()

        // A stalled transfer fails the test instead of hanging it.
        let deadline = loop.scheduleTask(in: .seconds(60)) {
            for end in [agentEnd, relayEnd] {
                end.ready.fail(HTTP2Error("no progress in 60 s"))
                end.ended.fail(HTTP2Error("no progress in 60 s"))
            }
        }
        try await relayEnd.ready.futureResult.get()
        try await loop.submit {
            let stream = try relay.openStream(headers: Pair.connect, delegate: relayEnd)
            stream.write(upload)
            stream.end()
        }.get()
        let uploaded = try await agentEnd.ended.futureResult.get()
        let downloaded = try await relayEnd.ended.futureResult.get()
        #expect(uploaded == upload)
        #expect(downloaded == download)
        deadline.cancel()

        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
