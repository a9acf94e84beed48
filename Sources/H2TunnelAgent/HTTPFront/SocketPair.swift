#if canImport(Glibc)
import Glibc
#endif
import H2TunnelCore
import NIOCore
import NIOPosix

/// A connected pair of local sockets on one event loop: the splice takes one end as if
/// it were the app's connection, and the agent serves the other itself.
enum SocketPair {
    /// `serve` sets up the agent's end (its channel initializer); returns the splice's end,
    /// with the options the splice expects (half-closure, reads paced by the splice).
    static func open(on loop: EventLoop,
                     serve: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) -> EventLoopFuture<Channel> {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            return loop.makeFailedFuture(IOError(errnoCode: errno, reason: "socketpair"))
        }
        let served = ClientBootstrap(group: loop).channelInitializer(serve).withConnectedSocket(fds[1])
        let agentEnd = fds[1]
        served.whenFailure { _ in close(agentEnd) }
        return ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.recvAllocator, value: SplicedReadAllocator(on: loop))
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.autoRead, value: false)
            .withConnectedSocket(fds[0])
    }
}
