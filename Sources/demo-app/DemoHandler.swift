import Foundation
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
final class DemoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The pipeline name the WebSocket upgrade removes once it has switched.
    static let name = "demo-handler"

    private enum Route {
        case none, echo, ignoreBody
        /// A `DemoRoutes` request; its body is collected up to `DemoRequest.maxBody`.
        case collect(HTTPRequestHead, ByteBuffer, tooLarge: Bool)
    }

    private let routes: DemoRoutes
    private let book: LedgerBook
    private var route = Route.none
    private var keepAlive = true
    /// Bytes still to send for `/bytes/N`, or nil when not streaming.
    private var remaining: Int?
    private var sent = 0
    /// Guards against `pump` re-entering itself via writability changes that
    /// `flush` fires synchronously.
    private var pumping = false
    /// The next `/api/events` tick while an event stream is open.
    private var nextEvent: Scheduled<Void>?
    /// Events sent on this connection's stream, for the line logged at its end.
    private var eventsSent = 0

    init(book: LedgerBook) {
        self.book = book
        self.routes = DemoRoutes(book: book)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            start(context: context, head: head)
        case .body(let body):
            switch route {
            case .echo:
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            case .collect(let head, var collected, let tooLarge):
                route = .none  // keeps `collected` uniquely referenced while it grows
                let fits = !tooLarge && collected.readableBytes + body.readableBytes <= DemoRequest.maxBody
                if fits { collected.writeImmutableBuffer(body) }
                route = .collect(head, fits ? collected : ByteBuffer(), tooLarge: !fits)
            case .none, .ignoreBody:
                return
            }
        case .end:
            switch route {
            case .echo:
                finish(context: context)
            case .collect(let head, let body, let tooLarge):
                let response = tooLarge
                    ? DemoResponse.error(.payloadTooLarge, "request bodies are limited to \(DemoRequest.maxBody) bytes")
                    : routes.respond(to: DemoRequest(head: head, body: body))
                respond(context: context, response)
            case .none, .ignoreBody:
                break
            }
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

    /// The client left: an event stream ends here (there is no other end).
    func channelInactive(context: ChannelHandlerContext) {
        stopEvents()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopEvents()
    }

    private func start(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        route = .ignoreBody
        switch (head.method, path) {
        case (.GET, "/") where head.headers[canonicalForm: "accept"].contains { $0.lowercased().hasPrefix("text/html") }:
            /// A browser (it asks for HTML first) lands on the ledger pages; curl,
            /// scripts and the tunnel tests keep the plain-text greeting below.
            var response = DemoResponse.text(.seeOther, "see /app\n")
            response.headers.add(name: "location", value: "/app")
            respond(context: context, response)
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
        case (.GET, "/api/events"):
            startEvents(context: context, head: head)
        case _ where DemoRoutes.handles(path):
            route = .collect(head, context.channel.allocator.buffer(capacity: 0), tooLarge: false)
        default:
            respond(context: context, status: .notFound, body: "not found\n")
        }
    }

    /// `GET /api/events`: a Server-Sent Events stream (HTML Living Standard
    /// §9.2), one event a second, each flushed on its own so proxies in
    /// between are seen to pass events as they come. A reconnecting client's
    /// Last-Event-ID continues the numbering.
    private func startEvents(context: ChannelHandlerContext, head: HTTPRequestHead) {
        writeHead(context: context, headers: [
            "content-type": "text/event-stream", "cache-control": "no-store",
        ])
        let last = head.headers.first(name: "last-event-id").flatMap { Int($0) }.map { max(0, $0) } ?? 0
        sendEvent(context: context, id: last == Int.max ? 1 : last + 1)
    }

    private func sendEvent(context: ChannelHandlerContext, id: Int) {
        /// A client that does not read loses ticks rather than making us queue them.
        if context.channel.isWritable {
            let time = Date.now.ISO8601Format()
            let event = "id: \(id)\ndata: {\"id\":\(id),\"time\":\"\(time)\",\"vouchers\":\(book.voucherCount)}\n\n"
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: event)))), promise: nil)
            eventsSent += 1
        }
        nextEvent = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) {
            self.sendEvent(context: context, id: id == Int.max ? 1 : id + 1)
        }
    }

    /// Idempotent: both the client leaving and the handler's removal call it.
    private func stopEvents() {
        guard let scheduled = nextEvent else { return }
        scheduled.cancel()
        nextEvent = nil
        DemoLog.line("event stream ended, client left after \(eventsSent) events")
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
        respond(context: context, .text(status, body))
    }

    private func respond(context: ChannelHandlerContext, _ response: DemoResponse) {
        var headers = response.headers
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        writeHead(context: context, headers: headers, status: response.status)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
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
