import AsyncHTTPClient
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Forwards browser requests to the app over HTTP/1.1 keep-alive (one `HTTPClient` for
/// the agent, on its event loop group), streaming bodies both ways with backpressure:
/// a 256 MiB upload or download never sits in memory whole.
final class ReverseProxy: Sendable {
    let client: HTTPClient
    /// `http://host:port` of the app.
    let base: String

    init(host: String, port: Int, group: EventLoopGroup, logger: Logger) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        // 100 browsers × a few parallel requests each; beyond the limit requests queue.
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        // An app that refuses the connection gets the 502 page now, not after retries
        // until the request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: group, configuration: configuration, backgroundActivityLogger: logger)
        let bracketed = host.contains(":") ? "[\(host)]" : host
        base = "http://\(bracketed):\(port)"
    }

    /// `logger` is the tunnel's (with its `conn`): the client's own lines about this
    /// request, at debug and trace, name the browser connection they serve.
    func forward(_ request: Request, user: String, browserIP: String, logger: Logger,
                 writer: consuming ResponseWriter) async throws {
        var outbound = HTTPClientRequest(url: base + (request.head.path ?? "/"))
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        outbound.headers = ProxyHeaders.toApp(request.headers, authority: request.head.authority,
                                              browserIP: browserIP, user: user)
        guard let length = Self.bodyLength(of: request) else {
            try await exchange(outbound, path: request.uri.path, logger: logger, writer: writer)
            return
        }
        // The body goes through a pump this handler waits for (see `RequestBodyPump`),
        // never straight from the browser's request to the client's own task.
        let pump = RequestBodyPump()
        outbound.body = .stream(pump, length: length)
        async let pumped: Void = pump.run(request.body)
        do {
            try await exchange(outbound, path: request.uri.path, logger: logger, writer: writer)
        } catch {
            // `pumped` is cancelled and awaited on the way out; it must not wait for the client.
            pump.responseDone()
            throw error
        }
        pump.responseDone()
        await pumped
        if pump.droppedBytes > 0 {
            logger.debug("app answered before the request body was sent; the rest was read and dropped",
                         metadata: ["path": "\(request.uri.path)", "dropped": "\(pump.droppedBytes)"])
        }
    }

    /// Sends `outbound` to the app and its answer (or the app-down page) to the browser.
    private func exchange(_ outbound: HTTPClientRequest, path: String, logger: Logger,
                          writer: consuming ResponseWriter) async throws {
        let response: HTTPClientResponse
        do {
            // No deadline: SSE streams and large bodies last as long as both ends want.
            response = try await client.execute(outbound, deadline: .distantFuture, logger: logger)
        } catch {
            logger.warning("app not answering", metadata: [
                "app": "\(base)", "path": "\(path)", "error": "\(error)"])
            let page = FrontPage.response(status: .badGateway, title: FrontPage.appDown.title,
                                          message: FrontPage.appDown.message)
            try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
            return
        }
        let head = HTTPResponse(status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                                headerFields: ProxyHeaders.toBrowser(response.headers))
        var body = try await writer.writeHead(head)
        // Each chunk is written (and flushed) as it comes: Server-Sent Events reach the
        // browser event by event.
        for try await chunk in response.body {
            try await body.write(chunk)
        }
        try await body.finish(nil)
    }

    /// The request body's length for the client, nil when there is no body to send.
    private static func bodyLength(of request: Request) -> HTTPClientRequest.Body.Length? {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }) {
            return length == 0 ? nil : .known(Int64(length))
        }
        // RFC 9110 §9.3.1/§9.3.2: a body on GET or HEAD has no defined meaning.
        if request.method == .get || request.method == .head { return nil }
        return .unknown
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
