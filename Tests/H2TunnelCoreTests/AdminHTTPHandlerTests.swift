import H2TunnelCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The admin listeners' HTTP/1.1 over a real loopback socket.
@Suite struct AdminHTTPHandlerTests {
    /// Collects everything the server sends until it has `expected` bytes' worth of answers.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox("")
        let done: EventLoopPromise<String>
        let until: @Sendable (String) -> Bool

        init(done: EventLoopPromise<String>, until: @escaping @Sendable (String) -> Bool) {
            self.done = done
            self.until = until
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = received.withLockedValue { text in
                text += String(buffer: unwrapInboundIn(data))
                return text
            }
            if until(text) { done.succeed(text) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.succeed(received.withLockedValue { $0 })
        }
    }

    func exchange(_ request: String, route: @escaping AdminHTTPHandler.Route,
                  until: @escaping @Sendable (String) -> Bool) async throws -> String {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await AdminHTTPHandler.listen(group: group, host: "127.0.0.1", port: 0, route: route)
        let done = group.any().makePromise(of: String.self)
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done, until: until))
                }
            }
            .connect(to: server.localAddress!).get()
        try await client.writeAndFlush(client.allocator.buffer(string: request))
        let answer = try await done.futureResult.get()
        try? await client.close()
        try? await server.close()
        try await group.shutdownGracefully()
        return answer
    }

    /// Pipelined requests (the first one's route suspends): answers in request order.
    @Test func pipelinedAnswersKeepRequestOrder() async throws {
        let answer = try await exchange(
            "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n",
            route: { path in
                if path == "/first" { await Task.yield() }
                return .text(String(path.dropFirst()))
            }, until: { $0.contains("second\n") && $0.contains("first\n") })
        let first = try #require(answer.range(of: "first\n"))
        let second = try #require(answer.range(of: "second\n"))
        #expect(first.lowerBound < second.lowerBound)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func onlyGETAndQueryStringIgnored() async throws {
        let post = try await exchange("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                                      route: { _ in .text("no") }, until: { $0.contains("\r\n\r\n") && $0.hasSuffix("\n") })
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        let get = try await exchange("GET /readyz?verbose=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                     route: { path in .text("path=\(path)") }, until: { _ in false })
        #expect(get.contains("connection: close\r\n"))
        #expect(get.hasSuffix("\r\n\r\npath=/readyz\n"))
    }
}
