import H2TunnelCore
import NIOCore
import NIOPosix
import Testing

/// The agent's app sockets, dialled for real on loopback and asked for their options.
@Suite struct SocketTuningTests {
    struct Dialled: Equatable {
        var noDelay: SocketOptionValue
        var keepAlive: SocketOptionValue
        /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT.
        var probes: [SocketOptionValue]
        var autoRead: Bool
        var transport: SocketOptionValue
    }

    func dial(keepAliveIdle: Int) async throws -> Dialled {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let app = try await SocketTuning.appDialler(on: group.next(), connectTimeout: .seconds(5), keepAliveIdle: keepAliveIdle)
            .connect(to: server.localAddress!).get()
        let dialled = try await app.eventLoop.submit {
            let options = app.syncOptions!
            return Dialled(
                noDelay: try options.getOption(ChannelOptions.tcpOption(.tcp_nodelay)),
                keepAlive: try options.getOption(ChannelOptions.Types.SocketOption(level: .socket, name: .so_keepalive)),
                probes: try [4, 5, 6, 18].map { try options.getOption(ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: $0))) },
                autoRead: try options.getOption(.autoRead),
                // SO_PROTOCOL (Linux): 6 is plain TCP, 262 would be MPTCP.
                transport: try options.getOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: 38))))
        }.get()
        try await app.close()
        try await server.close()
        try await group.shutdownGracefully()
        return dialled
    }

    /// The bootstrap's own TCP_NODELAY is dropped (it costs a chain of futures); the
    /// dialler must set it itself, keep MPTCP off, and leave reading to the splice.
    @Test func anAppSocketHasNoDelayKeepaliveAndPlainTCPAndDoesNotReadYet() async throws {
        let dialled = try await dial(keepAliveIdle: 60)
        #expect(dialled.noDelay != 0)
        #expect(dialled.keepAlive != 0)
        // Idle 60 s, then a probe every 10 s, six of them; unacknowledged bytes for 120 s.
        #expect(dialled.probes == [60, 10, 6, 120_000])
        #expect(dialled.autoRead == false)
        #expect(dialled.transport == 6)
    }

    @Test func keepaliveOffStillLeavesNoDelay() async throws {
        let dialled = try await dial(keepAliveIdle: 0)
        #expect(dialled.noDelay != 0)
        #expect(dialled.keepAlive == 0)
    }
}
