import NIOCore

/// A fatal TLS alert record (RFC 8446 §6), written by hand: the relay refuses a browser
/// before any TLS object exists for it, and a browser shows a named error for an alert
/// where a bare close only says "connection reset".
enum TLSAlert: UInt8 {
    case internalError = 80
    case unrecognizedName = 112

    func record(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 7)
        buffer.writeBytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, rawValue])
        return buffer
    }
}
