import NIOCore
import NIOHTTP1

/// Chunk size for `/bytes/N`: large enough for throughput, small enough that a
/// connection never holds more than a couple of chunks.
private let chunkSize = 64 * 1024

/// The `/bytes` pattern (byte i is `i % 251`) covering every start offset, so
/// each chunk is a zero-copy slice of this one buffer. 251 is prime, so the
/// pattern does not line up with any power-of-two record or frame size.
private let pattern: ByteBuffer = {
    var buffer = ByteBufferAllocator().buffer(capacity: chunkSize + 251)
    for i in 0..<(chunkSize + 251) { buffer.writeInteger(UInt8(i % 251)) }
    return buffer
}()

/// Routes one connection's requests. `HTTPServerPipelineHandler` in front of it
/// serialises pipelined requests, so at most one request is live at a time.
final class DemoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Route { case none, echo, ignoreBody }

    private var route = Route.none
    private var keepAlive = true
    /// Bytes still to send for `/bytes/N`, or nil when not streaming.
    private var remaining: Int?
    private var sent = 0
    /// Guards against `pump` re-entering itself via writability changes that
    /// `flush` fires synchronously.
    private var pumping = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            start(context: context, head: head)
        case .body(let body):
            guard case .echo = route else { return }
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        case .end:
            if case .echo = route { finish(context: context) }
            route = .none
        }
    }

    /// One flush per read burst rather than per chunk echoed.
    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func start(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        route = .ignoreBody
        switch (head.method, path) {
        case (.GET, "/"):
            var text = "Hello from the demo app\nmethod: \(head.method.rawValue)\npath: \(head.uri)\n"
            for (name, value) in head.headers where name.lowercased().hasPrefix("x-forwarded-") {
                text += "\(name): \(value)\n"
            }
            respond(context: context, status: .ok, body: text)
        case (.GET, _) where path.hasPrefix("/bytes/"):
            guard let count = Int(path.dropFirst("/bytes/".count)), count >= 0 else {
                return respond(context: context, status: .notFound, body: "not found\n")
            }
            writeHead(context: context, headers: [
                "content-type": "application/octet-stream", "content-length": String(count),
            ])
            remaining = count
            sent = 0
            pump(context: context)
        case (.PUT, "/echo"), (.POST, "/echo"):
            route = .echo
            writeHead(context: context, headers: [
                "content-type": "application/octet-stream", "transfer-encoding": "chunked",
            ])
        default:
            respond(context: context, status: .notFound, body: "not found\n")
        }
    }

    /// Writes `/bytes` chunks only while the channel is writable; the next
    /// batch starts from `channelWritabilityChanged`, so memory stays at about
    /// the high watermark whatever N is.
    private func pump(context: ChannelHandlerContext) {
        guard !pumping, var left = remaining else { return }
        pumping = true
        defer { pumping = false }
        while left > 0 && context.channel.isWritable {
            let n = min(chunkSize, left)
            let chunk = pattern.getSlice(at: pattern.readerIndex + sent % 251, length: n)!
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
            left -= n
            sent += n
            remaining = left
            context.flush()
        }
        if left == 0 {
            remaining = nil
            finish(context: context)
        }
    }

    private func writeHead(context: ChannelHandlerContext, headers: HTTPHeaders, status: HTTPResponseStatus = .ok) {
        var headers = headers
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        let buffer = context.channel.allocator.buffer(string: body)
        writeHead(context: context, headers: [
            "content-type": "text/plain; charset=utf-8", "content-length": String(buffer.readableBytes),
        ], status: status)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        finish(context: context)
    }

    /// Ends the response; closes only after the last byte left, because a
    /// close drops writes still queued.
    private func finish(context: ChannelHandlerContext) {
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        guard !keepAlive else { return }
        done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
