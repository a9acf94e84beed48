import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The HTTP/1.1 Upgrade to WebSocket (RFC 6455 §4.2) for `/ws/echo` only;
/// other upgrade requests stay ordinary requests and get ordinary answers.
enum WebSocketUpgrade {
    static let path = "/ws/echo"

    static func configuration(removing handlerName: String) -> NIOHTTPServerUpgradeSendableConfiguration {
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: WebSocketEchoHandler.maxFrameSize,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                return channel.eventLoop.makeSucceededFuture(path == Self.path ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketEchoHandler())
                }
            })
        /// Once upgraded, the HTTP handler would misread frames: take it out.
        return (upgraders: [upgrader], completionHandler: { context in
            context.pipeline.removeHandler(name: handlerName, promise: nil)
        })
    }
}
