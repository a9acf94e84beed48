import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore

/// `tcp://` mode: the browser's TLS ends here, inside the tunnel stream, with the
/// tenant's key; the upstream sees plaintext.
final class TLSTerminator: SpliceTransform {
    private let connection: TLSConnection
    private let allocator = ByteBufferAllocator()

    /// False until the browser's handshake finished (the agent's `--handshake-timeout` checks it).
    var isHandshakeComplete: Bool { connection.isHandshakeComplete }

    init(context: TLSContext) throws {
        connection = try TLSConnection(context: context)
        connection.sendTicketsWithFirstWrite()
    }

    func fromStream(_ data: ByteBuffer) -> SpliceTransformOutput {
        connection.feed(data)
        if !connection.isHandshakeComplete {
            switch connection.handshake() {
            case .incomplete: return SpliceTransformOutput(toStream: connection.takeOutput())
            case .failed: return SpliceTransformOutput(toStream: connection.takeOutput(), failed: true)
            case .complete: break
            }
        }
        let read = readAll()
        return SpliceTransformOutput(toChannel: read.plaintext, toStream: connection.takeOutput(),
                                     failed: read.failed, peerClosed: read.closed)
    }

    func fromChannel(_ data: ByteBuffer) throws -> ByteBuffer? {
        try connection.write(data)
        return connection.takeOutput()
    }

    func streamEnded() -> ByteBuffer? {
        connection.feedEOF()
        return connection.isHandshakeComplete ? readAll().plaintext : nil
    }

    func channelEnded() -> ByteBuffer? {
        connection.shutdown()
        return connection.takeOutput()
    }

    /// Everything decrypted so far; `closed` when the browser sent close_notify
    /// (RFC 8446 §6.1: it closes only the browser's write side).
    private func readAll() -> (plaintext: ByteBuffer?, failed: Bool, closed: Bool) {
        var plaintext: ByteBuffer? = nil
        while true {
            switch connection.read(allocator: allocator) {
            case .data(var chunk):
                if plaintext == nil { plaintext = chunk } else { plaintext!.writeBuffer(&chunk) }
            case .wantMore:
                return (plaintext, false, false)
            case .closed:
                return (plaintext, false, true)
            case .failed:
                return (plaintext, true, false)
            }
        }
    }
}
