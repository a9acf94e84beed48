internal import CMalloc
import H2TunnelSocket
import NIOCore
import NIOPosix

/// Socket and allocator settings of the data path, in one place so relay and agent agree.
public enum SocketTuning {
    /// TCP_NOTSENT_LOWAT (Linux 3.12): the agent connection's socket counts as writable only
    /// while less than this is queued unsent in the kernel. Bytes then wait in nghttp2's
    /// queues, where RFC 9218 scheduling can still put a page load before a bulk download,
    /// instead of in a multi-megabyte kernel buffer where nothing can reorder them.
    /// 32 KiB is 5 ms of a 50 Mbit/s uplink: at 128 KiB (NIO's 256 KiB above it) a page
    /// under 4 downloads there took 3.1–3.8 × idle, at 32 KiB 2.6–3.2 × (`Tools/bench
    /// --wan`). This is the value a connection starts with; `LinkTuner` then keeps it at
    /// 5 ms of the link's rate (up to 256 KiB), so a fast link never runs dry.
    public static let notSentLowWatermark = 32 * 1024

    /// Output buffered in NIO above TCP for the agent connection before it stops taking more:
    /// one 64 KiB DATA frame, so bytes wait in nghttp2, where streams still interleave.
    /// The value a connection starts with; `LinkTuner` then keeps it at one frame of the
    /// size the link's rate gives (`LinkTuner.writeBufferWaterMark`).
    public static let agentConnectionWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 16 * 1024, high: 64 * 1024)

    public static var notSentLowWatermarkOption: ChannelOptions.Types.SocketOption {
        ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 25))   // TCP_NOTSENT_LOWAT
    }

    /// TCP keepalive for the sockets of browsers (at the relay) and apps (at the agent).
    /// A peer that vanished without a FIN or RST (a laptop shut, a NAT that forgot the
    /// flow, a host that lost power) would otherwise keep its socket, its tunnel stream and
    /// the app's connection open for good: nothing is sent on an idle tunnel, so nothing
    /// fails. After `idle` seconds of silence the kernel probes, every `idle`/6 s (at
    /// least 1), and six unanswered probes close the socket with an error, which resets
    /// the stream. Probes cost nothing while bytes flow. Keepalive only probes an idle
    /// socket; with bytes in flight, TCP_USER_TIMEOUT (2 × `idle`) bounds how long they may
    /// stay unacknowledged, instead of ~15 minutes of retransmissions. The agent connection
    /// has its own HTTP/2 PINGs.
    public static func keepAlive(idle: Int) -> [(ChannelOptions.Types.SocketOption, SocketOptionValue)] {
        guard idle > 0 else { return [] }
        var options = [(ChannelOptions.Types.SocketOption(level: .socket, name: .so_keepalive), SocketOptionValue(1))]
        #if os(Linux)
        options += [
            (ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 4)), SocketOptionValue(idle)),   // TCP_KEEPIDLE
            (ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 5)), SocketOptionValue(max(1, idle / 6))),   // TCP_KEEPINTVL
            (ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 6)), 6),   // TCP_KEEPCNT
            (ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 18)), SocketOptionValue(2 * idle * 1000)),   // TCP_USER_TIMEOUT, ms
        ]
        #endif
        return options
    }

    /// The agent's dialler of app sockets on `loop`: each socket is tuned as a tunnelled
    /// one, with TCP_NODELAY (a tunnel forwards what it was given at once; its peers batch
    /// for themselves) and `keepAlive(idle:)`, and reads nothing until its splice is
    /// attached. `ClientBootstrap` would set TCP_NODELAY itself, through a chain of futures
    /// (~13,000 instructions a connect, callgrind), so its own is dropped for the one set
    /// here with the others (~3,500): `enableMPTCP(true)` is NIO's one public way to drop
    /// it, and `false` right after turns MPTCP off again without putting it back.
    public static func appDialler(on loop: EventLoop, connectTimeout: TimeAmount, keepAliveIdle: Int) -> ClientBootstrap {
        let budget = SplicedReadBudget.of(loop)
        let kernelOptions = [(ChannelOptions.tcpOption(.tcp_nodelay), SocketOptionValue(1))] + keepAlive(idle: keepAliveIdle)
        return ClientBootstrap(group: loop)
            .enableMPTCP(true).enableMPTCP(false)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tuneTunnelledSocket(channel, kernelOptions: kernelOptions, budget: budget)
                    try channel.syncOptions?.setOption(.autoRead, value: false)
                }
            }
    }

    /// TCP_QUICKACK (Linux): acknowledge the next segments at once instead of after the
    /// delayed-ACK timer. The relay sets it on a browser's socket right after the
    /// ServerHello flight. A client without TCP_NODELAY (Python's `http.client`, many
    /// scripts) sends its TLS Finished and then holds its request until the Finished is
    /// acknowledged (Nagle). The relay has nothing to send back until the response, and
    /// in `tcp://` mode the agent's session tickets wait for the response too. So that
    /// acknowledgement came only from the 40 ms delayed-ACK timer, on every new connection.
    /// nil where the option does not exist.
    public static var quickAckOption: ChannelOptions.Types.SocketOption? {
        #if os(Linux)
        return ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 12))   // TCP_QUICKACK
        #else
        return nil
        #endif
    }

    /// Sets the options of a tunnelled socket's channel (a browser's at the relay, an app's
    /// at the agent), synchronously, from its channel initializer. Given to a bootstrap as
    /// `channelOption`s, NIO applies each through a chain of futures: 2.6 % of the relay's
    /// and 5.6 % of the agent's CPU per new connection (perf).
    ///
    /// Kernel options go by `setsockopt` on the descriptor (`ChannelDescriptor`; NIO's
    /// generic option path costs ~3,500 instructions each, callgrind), none twice, and
    /// `kernelOptions` is given only where the socket did not inherit them: the agent's
    /// app sockets (`appDialler`). The relay's browser sockets inherit TCP_NODELAY and keepalive from its listener
    /// (`ServerBootstrap`'s default and `keepAlive(idle:)` as `serverChannelOption`s).
    public static func tuneTunnelledSocket(_ channel: Channel,
                                           kernelOptions: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = [],
                                           budget: SplicedReadBudget) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.maxMessagesPerRead, value: 1)
        try options.setOption(.recvAllocator, value: SplicedReadAllocator(budget: budget))
        if !kernelOptions.isEmpty, !ChannelDescriptor.setOptions(kernelOptions, on: channel) {
            for (option, value) in kernelOptions { try options.setOption(option, value: value) }
        }
    }

    /// glibc returns freed memory to the kernel eagerly (madvise/trim on every large free),
    /// which on a data path that frees 64 KiB buffers all the time costs ~20 % CPU.
    /// Keeping a few MiB around is cheaper; peaks stay bounded by backpressure.
    /// Freed memory that is not at the top of the heap comes back through `HeapTrimmer`.
    public static func tuneAllocator() {
        _ = mallopt(M_TRIM_THRESHOLD, 32 << 20)
        _ = mallopt(M_TOP_PAD, 4 << 20)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        HeapTrimmer.start()
    }
}
