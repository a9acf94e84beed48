import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore

/// `tcp://` mode: the browser's TLS ends here, inside the tunnel stream, with the
/// tenant's key; the upstream sees plaintext.
final class TLSTerminator: SpliceTransform {
    private let connection: TLSConnection
    private let allocator = ByteBufferAllocator()

    init(context: TLSContext) throws {
        connection = try TLSConnection(context: context)
    }

    func fromStream(_ data: ByteBuffer) -> (toChannel: ByteBuffer?, toStream: ByteBuffer?, failed: Bool) {
        connection.feed(data)
        if !connection.isHandshakeComplete {
            switch connection.handshake() {
            case .incomplete: return (nil, connection.takeOutput(allocator: allocator), false)
            case .failed: return (nil, connection.takeOutput(allocator: allocator), true)
            case .complete: break
            }
        }
        let (plaintext, failed) = readAll()
        return (plaintext, connection.takeOutput(allocator: allocator), failed)
    }

    func fromChannel(_ data: ByteBuffer) throws -> ByteBuffer? {
        try connection.write(data)
        return connection.takeOutput(allocator: allocator)
    }

    func streamEnded() -> ByteBuffer? {
        connection.feedEOF()
        return connection.isHandshakeComplete ? readAll().plaintext : nil
    }

    func channelEnded() -> ByteBuffer? {
        connection.shutdown()
        return connection.takeOutput(allocator: allocator)
    }

    private func readAll() -> (plaintext: ByteBuffer?, failed: Bool) {
        var plaintext: ByteBuffer? = nil
        while true {
            switch connection.read(allocator: allocator) {
            case .data(var chunk):
                if plaintext == nil { plaintext = chunk } else { plaintext!.writeBuffer(&chunk) }
            case .wantMore, .closed:
                return (plaintext, false)
            case .failed:
                return (plaintext, true)
            }
        }
    }
}
