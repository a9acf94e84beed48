import H2TunnelCore
import H2TunnelHTTP2
import Logging
import NIOCore

/// The relay's first stream on an agent connection: `GET /.h2tunnel/hello` with
/// `h2tunnel-relay-instance`, so the agent knows which relay instance it reached before
/// any browser comes (why a stream: `RelayInstanceName`). The answer (204) is only
/// logged: an older agent refuses the stream (400), and tunnels work all the same.
final class InstanceHello: HTTP2StreamDelegate {
    private let logger: Logger

    private init(logger: Logger) { self.logger = logger }

    /// Opens the hello on `connection` (its event loop, right after its SETTINGS).
    static func send(on connection: HTTP2ConnectionHandler, instance: String, logger: Logger) {
        let headers = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "relay"),
            (":path", TunnelProtocol.helloPath),
            (TunnelProtocol.relayInstanceHeader, instance),
        ]
        do {
            _ = try connection.openStream(headers: headers, delegate: InstanceHello(logger: logger), hasBody: false)
        } catch {
            logger.debug("instance hello not sent", metadata: ["error": "\(error)"])
        }
    }

    func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers) {
        logger.debug("instance hello answered", metadata: ["status": "\(headers[":status"] ?? "none")"])
    }

    func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer) {
        stream.consume(data.readableBytes)
    }

    func streamDidReceiveEnd(_ stream: HTTP2Stream) {}

    func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32) {}

    func streamWritabilityChanged(_ stream: HTTP2Stream) {}
}
