import NIOCore

/// Sits above a `TLSHandler` until the handshake is done, requires the agreed ALPN
/// protocol, then lets `onReady` build the rest of the pipeline in the same call — so
/// the plaintext that followed the handshake in the same read reaches it — and steps aside.
/// A failure before that point (a refused certificate, no ALPN) goes to `onRefused` once.
public final class TLSHandshakeGate: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer

    private let alpn: String
    private let onReady: (TLSHandshakeCompleted, ChannelHandlerContext) throws -> Void
    private let onRefused: (String) -> Void
    private var done = false

    /// `onReady` installs what follows (it may throw to refuse); the gate then removes itself.
    public init(alpn: String, onRefused: @escaping (String) -> Void,
                onReady: @escaping (TLSHandshakeCompleted, ChannelHandlerContext) throws -> Void) {
        self.alpn = alpn
        self.onReady = onReady
        self.onRefused = onRefused
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard handshake.alpn == alpn else {
            refuse(context: context, reason: "ALPN \(alpn) not negotiated")
            return
        }
        do {
            try onReady(handshake, context)
            done = true
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            refuse(context: context, reason: "\(error)")
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        refuse(context: context, reason: "\(error)")
    }

    private func refuse(context: ChannelHandlerContext, reason: String) {
        if !done {
            done = true
            onRefused(reason)
        }
        context.close(promise: nil)
    }
}
