import NIOCore
import NIOHTTP1
import NIOPosix

/// Plain HTTP/1.1 for the relay's and the agent's admin listeners (loopback by default):
/// `GET` of a path → `route` → one whole response. NIO's pipelining assistance
/// (`configureHTTPServerPipeline`) holds a pipelined request until the answer before it is
/// written, so answers leave in request order.
public final class AdminHTTPHandler: ChannelInboundHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart
    /// The answer for a `GET` of `path` (query string removed).
    public typealias Route = @Sendable (_ path: String) async -> AdminResponse

    private let route: Route
    private var request: (path: String?, keepAlive: Bool)?

    public init(route: @escaping Route) { self.route = route }

    /// An admin listener bound on `host:port`, every connection it accepts served by this
    /// handler. Its errors are the bind's own: the caller names the setting in them.
    public static func listen(group: EventLoopGroup, host: String, port: Int, route: @escaping Route) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try install(on: channel, route: route) }
            }
            .bind(host: host, port: port).get()
    }

    /// Adds HTTP/1.1 and this handler to a freshly accepted admin connection.
    static func install(on channel: Channel, route: @escaping Route) throws {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(route: route))
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let path = head.method == .GET ? String(head.uri.split(separator: "?").first ?? "") : nil
            request = (path, head.isKeepAlive)
        case .body:
            break
        case .end:
            guard let request else { return }
            self.request = nil
            let loop = context.eventLoop
            let route = self.route
            let answer: EventLoopFuture<AdminResponse> = if let path = request.path {
                loop.makeFutureWithTask { await route(path) }
            } else {
                loop.makeSucceededFuture(.text("method not allowed", status: .methodNotAllowed))
            }
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            answer.whenSuccess { response in
                let (handler, context) = bound.value
                handler.write(response, keepAlive: request.keepAlive, context: context)
            }
        }
    }

    private func write(_ response: AdminResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.utf8.count))
        headers.add(name: "cache-control", value: "no-store")
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed request (NIOHTTP1's parser error): nothing sensible to answer.
        context.close(promise: nil)
    }
}
