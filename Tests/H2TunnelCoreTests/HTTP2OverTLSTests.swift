import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore
import NIOEmbedded
import Testing

/// An agent connection as relay and agent run it: each end's HTTP/2 carried straight on its
/// `TLSHandler` (`carry`), nothing between them in the pipeline; mutual TLS with the
/// development PKI, in memory.
struct CarriedPair {
    let loop = EmbeddedEventLoop()
    let relayChannel: EmbeddedChannel
    let agentChannel: EmbeddedChannel
    let relay: HTTP2ConnectionHandler
    let agent: HTTP2ConnectionHandler
    let relayRecorder = Recorder()
    let agentRecorder = Recorder()

    init() throws {
        var relaySettings = HTTP2Settings()
        relaySettings.pingInterval = nil
        var agentSettings = HTTP2Settings()
        agentSettings.pingInterval = nil
        agentSettings.enableConnectProtocol = true
        relay = HTTP2ConnectionHandler(role: .client, settings: relaySettings, eventLoop: loop, delegate: relayRecorder)
        agent = HTTP2ConnectionHandler(role: .server, settings: agentSettings, eventLoop: loop, delegate: agentRecorder)
        agentRecorder.onRequest = { stream in try? stream.respond(status: 200, withBody: true) }

        let relayTLS = TLSHandler(connection: try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .server, certificateChainPath: PKIFixture.path("relay.pem"), privateKeyPath: PKIFixture.path("relay.key"),
            trustRootsPath: PKIFixture.path("agent-ca.pem"), alpnProtocols: ["h2"], requireALPN: true))))
        let agentTLS = TLSHandler(connection: try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .client, certificateChainPath: PKIFixture.path("tenants/acme/agent.pem"),
            privateKeyPath: PKIFixture.path("tenants/acme/agent.key"), trustRootsPath: PKIFixture.path("ca.pem"),
            alpnProtocols: ["h2"])), serverName: "agents.relay.localhost"))
        relayChannel = EmbeddedChannel(loop: loop)
        agentChannel = EmbeddedChannel(loop: loop)
        for (channel, tls, connection) in [(relayChannel, relayTLS, relay), (agentChannel, agentTLS, agent)] {
            try channel.pipeline.syncOperations.addHandlers([
                tls, TLSHandshakeGate(alpn: "h2", onRefused: { reason in Issue.record("refused: \(reason)") },
                                      onReady: { _, _ in tls.carry(connection) }),
            ])
        }
        try relayChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try agentChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    /// Moves ciphertext both ways until both sides are quiet.
    func pump() throws {
        for _ in 0..<1000 {
            loop.run()
            var moved = false
            while let out = try relayChannel.readOutbound(as: ByteBuffer.self) {
                try agentChannel.writeInbound(out)
                moved = true
            }
            while let out = try agentChannel.readOutbound(as: ByteBuffer.self) {
                try relayChannel.writeInbound(out)
                moved = true
            }
            if !moved { return }
        }
    }
}

@Suite struct HTTP2OverTLSTests {

    /// The handshake, SETTINGS, a CONNECT and its bytes both ways, with the HTTP/2
    /// connection nowhere in either pipeline and the gates gone.
    @Test func http2RidesStraightOnTLS() throws {
        let pair = try CarriedPair()
        try pair.pump()
        #expect(pair.relayRecorder.ready && pair.agentRecorder.ready)
        #expect(pair.relay.acceptsExtendedConnect)
        for channel in [pair.relayChannel, pair.agentChannel] {
            #expect((try? channel.pipeline.syncOperations.handler(type: HTTP2ConnectionHandler.self)) == nil)
            #expect((try? channel.pipeline.syncOperations.handler(type: TLSHandshakeGate.self)) == nil)
        }
        try tunnelBothWays(client: pair.relay, server: pair.agentRecorder, pump: pair.pump)
    }

    /// A record that does not decrypt ends the carried connection with TLS's reason, and
    /// its streams are cancelled.
    @Test func aBadRecordEndsTheCarriedConnection() throws {
        let pair = try CarriedPair()
        try pair.pump()
        let browser = Recorder()
        _ = try pair.relay.openStream(headers: Pair.connect, delegate: browser)
        try pair.pump()
        var forged = ByteBuffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x20])
        forged.writeRepeatingByte(0x5a, count: 32)
        try pair.relayChannel.writeInbound(forged)
        pair.loop.run()
        #expect(pair.relay.isClosed)
        #expect(!pair.relayChannel.isActive)
        #expect(browser.closedWith == HTTP2ErrorCode.cancel)
        let reason = try #require(pair.relayRecorder.closedReason)
        #expect(!["connection closed", "peer closed the connection", ""].contains(reason))
    }

    /// A socket error from below the TLS handler (a reset) reaches the carried connection,
    /// which closes with it.
    @Test func aSocketErrorEndsTheCarriedConnection() throws {
        struct Reset: Error, CustomStringConvertible { var description: String { "connection reset by peer" } }
        let pair = try CarriedPair()
        try pair.pump()
        let browser = Recorder()
        _ = try pair.relay.openStream(headers: Pair.connect, delegate: browser)
        try pair.pump()
        pair.relayChannel.pipeline.fireErrorCaught(Reset())
        pair.loop.run()
        #expect(pair.relay.isClosed)
        #expect(!pair.relayChannel.isActive)
        #expect(browser.closedWith == HTTP2ErrorCode.cancel)
        #expect(pair.relayRecorder.closedReason == "connection reset by peer")
    }

    /// A FIN without close_notify (half-closure is on for these sockets) ends the carried
    /// connection: the far end cannot send again.
    @Test func aFINEndsTheCarriedConnection() throws {
        let pair = try CarriedPair()
        try pair.pump()
        let browser = Recorder()
        _ = try pair.relay.openStream(headers: Pair.connect, delegate: browser)
        try pair.pump()
        pair.relayChannel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        pair.loop.run()
        #expect(pair.relay.isClosed)
        #expect(!pair.relayChannel.isActive)
        #expect(browser.closedWith == HTTP2ErrorCode.cancel)
    }

    /// A channel above its high watermark holds the carried connection's frames; when it
    /// drains, the connection hears it and the rest follows.
    @Test func framesWaitWhileTheChannelIsFull() throws {
        let pair = try CarriedPair()
        try pair.pump()
        pair.agentRecorder.writesOnwardAtOnce = true
        let stream = try pair.relay.openStream(headers: Pair.connect, delegate: Recorder())
        try pair.pump()
        pair.relayChannel.isWritable = false
        pair.relayChannel.pipeline.fireChannelWritabilityChanged()
        let payload = Pair.patterned(100_000, step: 9)
        stream.write(payload)
        try pair.pump()
        #expect(pair.agentRecorder.received.readableBytes == 0)

        pair.relayChannel.isWritable = true
        pair.relayChannel.pipeline.fireChannelWritabilityChanged()
        try pair.pump()
        #expect(pair.agentRecorder.received == payload)
    }

    /// The agent closing its end sends close_notify: the relay's connection hears that its
    /// peer closed, and closes too.
    @Test func aCloseNotifyEndsTheFarEnd() throws {
        let pair = try CarriedPair()
        try pair.pump()
        pair.agentChannel.close(promise: nil)
        try pair.pump()
        #expect(pair.agent.isClosed)
        #expect(pair.relay.isClosed)
        #expect(pair.relayRecorder.closedReason == "peer closed the connection")
    }
}
