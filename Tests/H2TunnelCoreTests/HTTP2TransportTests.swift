import H2TunnelHTTP2
import NIOCore
import NIOEmbedded
import Testing

/// A transport with no channel under it: flushed frames wait in `sent` for the test to
/// carry them to the peer.
final class MemoryTransport: HTTP2Transport {
    var canTakeFrames = true
    let frameAllocator = ByteBufferAllocator()
    private var taken: [ByteBuffer] = []
    var sent: [ByteBuffer] = []
    var closed = false

    func takeFrames(_ frames: ByteBuffer) { taken.append(frames) }
    func flushFrames() {
        sent += taken
        taken = []
    }
    func closeTransport() { closed = true }
}

/// A client and a server connection driven through their "Driving" calls alone, as the
/// data path's own loop will drive them (docs/roadmap.md, item 1): no pipeline, no channel.
struct DrivenPair {
    let loop = EmbeddedEventLoop()
    let client: HTTP2ConnectionHandler
    let server: HTTP2ConnectionHandler
    let clientTransport = MemoryTransport()
    let serverTransport = MemoryTransport()
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init() {
        var serverSettings = HTTP2Settings()
        serverSettings.enableConnectProtocol = true
        serverSettings.pingInterval = nil
        var clientSettings = HTTP2Settings()
        clientSettings.pingInterval = nil
        client = HTTP2ConnectionHandler(role: .client, settings: clientSettings, eventLoop: loop, delegate: clientRecorder)
        server = HTTP2ConnectionHandler(role: .server, settings: serverSettings, eventLoop: loop, delegate: serverRecorder)
        serverRecorder.onRequest = { stream in try? stream.respond(status: 200, withBody: true) }
        client.start(transport: clientTransport)
        server.start(transport: serverTransport)
    }

    /// Carries flushed frames both ways, one read per flight, until both sides are quiet.
    func pump() {
        for _ in 0..<1000 {
            loop.run()
            let toServer = clientTransport.sent
            let toClient = serverTransport.sent
            clientTransport.sent = []
            serverTransport.sent = []
            if toServer.isEmpty && toClient.isEmpty { return }
            for frames in toServer { server.receive(frames) }
            if !toServer.isEmpty { server.receiveDidEnd() }
            for frames in toClient { client.receive(frames) }
            if !toClient.isEmpty { client.receiveDidEnd() }
        }
    }
}

/// A tunnel's whole life on a connection pair, both ways, byte for byte: `client` opens a
/// CONNECT, uploads and ends; the far end, which `server` records, answers 200, downloads
/// and ends; `pump` carries the bytes between them.
func tunnelBothWays(client: HTTP2ConnectionHandler, server: Recorder, pump: () throws -> Void) throws {
    let browser = Recorder()
    browser.writesOnwardAtOnce = true
    server.writesOnwardAtOnce = true
    let stream = try client.openStream(headers: Pair.connect, delegate: browser)
    let upload = Pair.patterned(300_000, step: 7)
    stream.write(upload)
    stream.end()
    try pump()
    #expect(browser.headers.first?[":status"] == "200")
    #expect(server.received == upload)
    #expect(server.ended)

    let download = Pair.patterned(700_000, step: 17)
    let far = try #require(server.requests.first)
    far.write(download)
    far.end()
    try pump()
    #expect(browser.received == download)
    #expect(browser.ended)
    #expect(browser.closedWith == HTTP2ErrorCode.noError)
}

@Suite struct HTTP2TransportTests {

    /// A tunnel's whole life with no channel anywhere.
    @Test func aConnectionRunsOnItsTransportAlone() throws {
        let pair = DrivenPair()
        pair.pump()
        #expect(pair.client.acceptsExtendedConnect)
        try tunnelBothWays(client: pair.client, server: pair.serverRecorder, pump: pair.pump)
    }

    /// A transport that cannot take frames gets none; told it can again, it gets the rest.
    @Test func framesWaitForTheTransport() throws {
        let pair = DrivenPair()
        pair.pump()
        pair.serverRecorder.writesOnwardAtOnce = true
        let stream = try pair.client.openStream(headers: Pair.connect, delegate: Recorder())
        pair.clientTransport.canTakeFrames = false
        let payload = Pair.patterned(200_000, step: 5)
        stream.write(payload)
        pair.pump()
        #expect(pair.serverRecorder.requests.isEmpty)
        #expect(pair.serverRecorder.received.readableBytes == 0)

        pair.clientTransport.canTakeFrames = true
        pair.client.transportBecameWritable()
        pair.pump()
        #expect(pair.serverRecorder.requests.count == 1)
        #expect(pair.serverRecorder.received == payload)
    }

    /// A failed transport is closed by its connection; once closed, every stream is
    /// cancelled and the delegate hears why.
    @Test func aFailedTransportEndsTheConnection() throws {
        let pair = DrivenPair()
        pair.pump()
        let browser = Recorder()
        _ = try pair.client.openStream(headers: Pair.connect, delegate: browser)
        pair.pump()
        pair.client.transportFailed("relay went away")
        #expect(pair.clientTransport.closed)
        #expect(pair.client.isClosed)
        #expect(browser.closedWith == nil)
        pair.client.transportClosed()
        #expect(browser.closedWith == HTTP2ErrorCode.cancel)
        #expect(pair.clientRecorder.closedReason == "relay went away")
    }
}
