import HTTPTypes
import HummingbirdWebSocket
import HummingbirdWSClient
import Logging
import NIOCore

/// A browser's WebSocket (upgraded here, HTTP/1.1 RFC 6455) joined message by message to
/// a WebSocket the agent opens to the app. Messages, not bytes: each side keeps its own
/// framing, masking and close handshake, all handled by hummingbird-websocket, and a
/// session check happens before the browser's upgrade is accepted.
enum WebSocketBridge {
    /// The largest message relayed (16 MiB); larger ones close the socket.
    static let maxMessage = 16 << 20

    static func run(browserIn: WebSocketInboundStream, browserOut: WebSocketOutboundWriter,
                    url: String, headers: HTTPFields, group: EventLoopGroup, logger: Logger) async {
        do {
            try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers),
                eventLoopGroup: group, logger: logger
            ) { appIn, appOut, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in browserIn.messages(maxSize: maxMessage) {
                            try await appOut.write(frame(message))
                        }
                    }
                    group.addTask {
                        for try await message in appIn.messages(maxSize: maxMessage) {
                            try await browserOut.write(frame(message))
                        }
                    }
                    // Either side's end ends both (their closes follow when the handlers return).
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.warning("websocket to app failed", metadata: ["url": "\(url)", "error": "\(error)"])
            try? await browserOut.close(.unexpectedServerError, reason: "The application is not answering")
        }
    }

    private static func frame(_ message: WebSocketMessage) -> WebSocketOutboundWriter.OutboundFrame {
        switch message {
        case .text(let text): .text(text)
        case .binary(let data): .binary(data)
        }
    }
}
