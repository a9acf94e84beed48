#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// floor-proxy.c's proxy on SwiftNIO: the least a tunnel process built on NIO spends per
/// event, before TLS, HTTP/2 or any code of ours. `Tools/bench --cpu` runs both and sets
/// relay, agent, sshd and ssh against them.
///
///     floor-proxy-nio TARGET_PORT     (listens on 127.0.0.1, an ephemeral port; prints "ready PORT")
///
/// One event loop. Each accepted socket is joined to a new connection to
/// 127.0.0.1:TARGET_PORT by two `Glue` handlers, as in NIO's own examples: each writes what
/// its channel reads to the other channel, flushes once per read burst, and reads only
/// while the other channel is writable (bounded memory).
@main
enum FloorProxy {
    static func main() throws {
        guard CommandLine.arguments.count == 2, let target = Int(CommandLine.arguments[1]) else {
            print("usage: floor-proxy-nio TARGET_PORT")
            return
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try SocketAddress(ipAddress: "127.0.0.1", port: target)
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelInitializer { browser in
                ClientBootstrap(group: browser.eventLoop)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try Glue.options(channel) }
                    }
                    .connect(to: upstream)
                    .flatMapThrowing { app in
                        try Glue.options(browser)
                        let (one, other) = Glue.pair()
                        try browser.pipeline.syncOperations.addHandler(one)
                        try app.pipeline.syncOperations.addHandler(other)   // the same loop
                    }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        print("ready \(server.localAddress!.port!)")
        fflush(nil)   // stdout is a pipe: block-buffered
        try server.closeFuture.wait()
    }
}

/// One side of a splice (NIO's GlueHandler pattern).
final class Glue: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: Glue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair() -> (Glue, Glue) {
        let one = Glue(), other = Glue()
        one.partner = other
        other.partner = one
        return (one, other)
    }

    /// The options relay and agent set on their tunnelled sockets that change the work per event.
    static func options(_ channel: Channel) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.maxMessagesPerRead, value: 1)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.context?.close(mode: .output, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let partner, partner.pendingRead {
            partner.pendingRead = false
            partner.context?.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, let other = partner.context, other.channel.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
