import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import H2TunnelRelayWeb

/// `RelaySite.serve` on real loopback sockets (plaintext: TLS is the relay's, tested
/// end to end in Tests/e2e/test_relay_web.py): it answers, and quiet sockets are closed.
@Suite struct RelaySiteConnectionTests {
    /// A server whose every connection is served by a site with short timeouts.
    /// `idleTimeout`: short to keep quiet-socket tests quick; a test that needs an answer
    /// first gives more, since on a loaded machine the request may be read only after a
    /// 300 ms timer has already closed the socket.
    private static func withServer(alpn: String, idleTimeout: Duration = .milliseconds(300),
                                   _ body: (Int) async throws -> Void) async throws {
        var settings = SiteSettings(hostname: "relay.localhost", tenantDomain: "tunnel.localhost", publicPort: nil)
        settings.idleTimeout = idleTimeout
        settings.silentPeerTimeout = .seconds(1)
        let site = RelaySite(notConfigured: settings, logger: Logger(label: "test"))
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { site.serve(channel: channel, alpn: alpn) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        try await body(server.localAddress?.port ?? 0)
    }

    /// Collects what the server sends; `closed` completes when it closes.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox(ByteBuffer())
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            received.withLockedValue { $0.writeBuffer(&bytes) }
        }
    }

    /// Connects, sends `bytes`, and returns (whether the server closed the socket, what it
    /// sent). The client gives up after 120 s, far beyond the site's 1 s timeouts, so a
    /// `false` means the site left the socket open; no wall-clock bound is asserted.
    private static func exchange(port: Int, sending bytes: [UInt8]) async throws -> (Bool, String) {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let gaveUp = NIOLockedValueBox(false)
        let limit = channel.eventLoop.scheduleTask(in: .seconds(120)) {
            gaveUp.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        if !bytes.isEmpty {
            // On a loaded machine the site's idle timeout may close the socket before
            // these bytes go out: that is a close by the server all the same.
            do {
                try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
            } catch ChannelError.ioOnClosedChannel {}
        }
        try await channel.closeFuture.get()
        limit.cancel()
        let text = collector.received.withLockedValue { String(buffer: $0) }
        return (!gaveUp.withLockedValue { $0 }, text)
    }

    /// The request asks for `Connection: close`, so the answer does not race the idle
    /// timer: in a loaded test process the task that answers may wait seconds for the
    /// cooperative pool (other suites hash passwords on it), and an idle close then ends
    /// the connection first. Closing when idle is `quietHTTP1ConnectionIsClosed`'s test.
    @Test func http1Answers() async throws {
        try await Self.withServer(alpn: "http/1.1", idleTimeout: .seconds(120)) { port in
            let request = "GET / HTTP/1.1\r\nHost: relay.localhost\r\nConnection: close\r\n\r\n"
            let (serverClosed, text) = try await Self.exchange(port: port, sending: Array(request.utf8))
            #expect(text.hasPrefix("HTTP/1.1 200 OK"))
            #expect(text.lowercased().contains("\r\ndate: "))
            #expect(text.contains("Sign-in is not configured"))
            #expect(serverClosed)
        }
    }

    @Test func quietHTTP1ConnectionIsClosed() async throws {
        try await Self.withServer(alpn: "http/1.1") { port in
            let (serverClosed, _) = try await Self.exchange(port: port, sending: [])
            #expect(serverClosed)
        }
    }

    /// The client sends its preface and SETTINGS, then nothing: not the SETTINGS ack, not
    /// the answer to the idle GOAWAY's PING. The socket is closed all the same.
    @Test func silentHTTP2ClientIsClosed() async throws {
        try await Self.withServer(alpn: "h2") { port in
            let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
            let (serverClosed, _) = try await Self.exchange(port: port, sending: preface)
            #expect(serverClosed)
        }
    }
}
