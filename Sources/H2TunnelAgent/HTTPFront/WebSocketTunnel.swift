import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// RFC 8441: a WebSocket a browser opens on its HTTP/2 connection (extended CONNECT,
/// `:protocol: websocket`), carried to the app as an RFC 6455 HTTP/1.1 upgrade on a
/// connection of its own. After the two handshakes bytes are relayed as they are: RFC
/// 8441 §5 keeps RFC 6455's framing (browser frames masked), so the app's subprotocol
/// and extensions (permessage-deflate) pass end to end, untouched by the agent.
enum WebSocketTunnel {
    /// The app's handshake response may not be larger than this.
    static let maxHandshake = 16 * 1024

    /// `logger` is the tunnel's, with its `conn`.
    static func run(_ request: Request, user: String, browserIP: String, front: HTTPFront,
                    logger: Logger, writer: consuming ResponseWriter) async throws {
        let app: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            app = try await ClientBootstrap(group: front.eventLoopGroup)
                .connectTimeout(.seconds(5))
                .connect(host: front.appHost, port: front.appPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            logger.warning("app not answering", metadata: ["websocket": "\(request.uri.path)", "error": "\(error)"])
            try await appDown(writer)
            return
        }
        // The writer is non-copyable: the closure below takes it out of this box once.
        var pending: ResponseWriter? = consume writer
        try await app.executeThenClose { appIn, appOut in
            guard let writer = pending.take() else { return }
            try await appOut.write(ByteBuffer(string: handshake(request, user: user, browserIP: browserIP)))
            var iterator = appIn.makeAsyncIterator()
            var received = ByteBuffer()
            var headerEnd: Int? = nil
            while headerEnd == nil {
                guard var chunk = try await iterator.next(), received.readableBytes < maxHandshake else {
                    logger.warning("app refused websocket", metadata: ["path": "\(request.uri.path)", "reason": "no handshake"])
                    try await appDown(writer)
                    return
                }
                received.writeBuffer(&chunk)
                headerEnd = received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
            }
            guard let headerEnd, let head = received.readString(length: headerEnd - received.readerIndex) else { return }
            let lines = head.split(separator: "\r\n")
            guard let status = lines.first?.split(separator: " ").dropFirst().first, status == "101" else {
                logger.warning("app refused websocket", metadata: ["path": "\(request.uri.path)", "status": "\(lines.first ?? "")"])
                try await appDown(writer)
                return
            }
            // RFC 8441 §5: a 2xx answers the extended CONNECT; the app's negotiated
            // subprotocol and extensions go back with it.
            var fields = HTTPFields()
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                guard name == "sec-websocket-protocol" || name == "sec-websocket-extensions",
                      let fieldName = HTTPField.Name(name) else { continue }
                fields.append(HTTPField(name: fieldName, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            var body = try await writer.writeHead(HTTPResponse(status: .ok, headerFields: fields))
            if received.readableBytes > 0 { try await body.write(received) }
            async let upload: Void = relay(request.body, to: appOut)
            while let chunk = try await iterator.next() {
                try await body.write(chunk)
            }
            try await body.finish(nil)
            try? await upload
        }
    }

    private static func relay(_ browser: RequestBody, to app: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        for try await chunk in browser {
            try await app.write(chunk)
        }
        app.finish()
    }

    /// RFC 6455 §4.1: the opening handshake the app expects, with this agent's key, the
    /// browser's subprotocol and extension offers, and the usual forwarding headers.
    private static func handshake(_ request: Request, user: String, browserIP: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        var text = "GET \(request.head.path ?? "/") HTTP/1.1\r\n"
        let headers = ProxyHeaders.toApp(request.headers, authority: request.head.authority, browserIP: browserIP, user: user)
        for (name, value) in headers where !["sec-websocket-key", "sec-websocket-version", "sec-websocket-accept"].contains(name.lowercased()) {
            text += "\(name): \(value)\r\n"
        }
        text += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(key)\r\n\r\n"
        return text
    }

    private static func appDown(_ writer: consuming ResponseWriter) async throws {
        let page = FrontPage.response(status: .badGateway, title: FrontPage.appDown.title, message: FrontPage.appDown.message)
        try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
    }
}
