import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// HTTP/2 for browsers: Hummingbird's request handling on each stream, on an HTTP/2
/// connection with the settings Hummingbird's `HTTP2Channel` does not expose.
enum FrontHTTP2 {
    /// Stream receive window: at NIO's default 64 KiB an upload waits a round trip of
    /// the whole tunnel (browser ↔ relay ↔ agent) per 64 KiB (~11 MB/s measured); 1 MiB
    /// lets it run at the link's speed while bounding what one stream may queue here.
    static let streamWindow = 1 << 20

    static var configuration: NIOHTTP2Handler.Configuration {
        var configuration = NIOHTTP2Handler.Configuration()
        configuration.connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            // RFC 8441 §3: browsers open WebSockets on this connection (extended CONNECT)
            // instead of a separate HTTP/1.1 one.
            HTTP2Setting(parameter: .enableConnectProtocol, value: 1),
        ]
        configuration.connection.targetWindowSize = 4 * streamWindow
        configuration.stream.targetWindowSize = streamWindow
        return configuration
    }

    /// Installs HTTP/2 on `channel` (the browser's TLS is below) and serves its streams.
    static func start(channel: Channel, responder: @escaping HTTPChannelHandler.Responder, logger: Logger) throws {
        let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
            mode: .server, configuration: configuration
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                return try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(wrappingChannelSynchronously: stream)
            }
        }
        // One request per stream: HTTP1Channel's request loop ends when the stream does.
        let perStream = HTTP1Channel(responder: responder)
        Task {
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    for try await stream in multiplexer.inbound {
                        group.addTask { await perStream.handle(value: stream, logger: logger) }
                    }
                }
            } catch {
                logger.debug("browser HTTP/2 connection ended", metadata: ["error": "\(error)"])
            }
        }
    }
}
