internal import COpenSSL
import NIOCore

/// The bytes on both sides of one SSL object, as NIO buffers.
///
/// A memory BIO copies every ciphertext byte twice more than needed (in, then out of its
/// own growing, zero-filled buffer). This BIO reads straight from the buffers NIO handed
/// us (no copy on the way in) and OpenSSL's records are written straight into the buffer
/// that goes to the socket. Owned by its `TLSConnection`; the BIO holds an unretained pointer.
final class BufferBIOState {
    var input = CircularBuffer<ByteBuffer>()
    var inputBytes = 0
    var inputEnded = false
    var output: ByteBuffer?
    let allocator: ByteBufferAllocator

    init(allocator: ByteBufferAllocator) { self.allocator = allocator }

    func read(into destination: UnsafeMutableRawPointer, length: Int) -> Int {
        var copied = 0
        while copied < length, var head = input.first {
            let take = min(length - copied, head.readableBytes)
            head.withUnsafeReadableBytes { bytes in
                (destination + copied).copyMemory(from: bytes.baseAddress!, byteCount: take)
            }
            head.moveReaderIndex(forwardBy: take)
            copied += take
            if head.readableBytes == 0 { input.removeFirst() } else { input[input.startIndex] = head }
        }
        inputBytes -= copied
        return copied
    }

    func write(_ source: UnsafeRawPointer, length: Int) {
        reserve(length)
        output!.writeBytes(UnsafeRawBufferPointer(start: source, count: length))
    }

    /// Makes room for `count` more bytes of ciphertext at once, so a 64 KiB plaintext
    /// write does not grow (and copy) the buffer record by record.
    func reserve(_ count: Int) {
        if output == nil {
            output = allocator.buffer(capacity: max(count, 16 * 1024 + 64))
        } else {
            output!.reserveCapacity(minimumWritableBytes: count)
        }
    }
}

/// The BIO_METHOD, made once: a source/sink whose callbacks reach `BufferBIOState`.
enum BufferBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        let method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "h2tunnel-buffer")!
        _ = BIO_meth_set_write(method, bufferBIOWrite)
        _ = BIO_meth_set_read(method, bufferBIORead)
        _ = BIO_meth_set_ctrl(method, bufferBIOControl)
        _ = BIO_meth_set_create(method, bufferBIOCreate)
        return method
    }()

    static func make(state: BufferBIOState) -> OpaquePointer? {
        guard let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(state).toOpaque())
        return bio
    }

    /// Runs `body` on the BIO's state without retaining it: OpenSSL calls these callbacks
    /// several times per record (write, then flush and pending queries), and a
    /// retain/release pair each time was ~5 % of the agent's CPU. The owning
    /// `TLSConnection` keeps the state alive for as long as the SSL (and its BIO) exists.
    static func withState<R>(_ bio: OpaquePointer?, _ body: (BufferBIOState) -> R) -> R? {
        guard let bio, let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<BufferBIOState>.fromOpaque(data)._withUnsafeGuaranteedRef(body)
    }
}

private func bufferBIOCreate(_ bio: OpaquePointer?) -> Int32 {
    BIO_set_init(bio, 1)
    return 1
}

private func bufferBIOWrite(_ bio: OpaquePointer?, _ data: UnsafePointer<CChar>?, _ length: Int32) -> Int32 {
    guard let data, length > 0 else { return 0 }
    h2t_BIO_clear_retry_flags(bio)
    return BufferBIO.withState(bio) { state in
        state.write(data, length: Int(length))
        return length
    } ?? 0
}

/// No bytes yet is "retry", not EOF, until the peer's stream really ended.
private func bufferBIORead(_ bio: OpaquePointer?, _ data: UnsafeMutablePointer<CChar>?, _ length: Int32) -> Int32 {
    guard let data, length > 0 else { return 0 }
    h2t_BIO_clear_retry_flags(bio)
    return BufferBIO.withState(bio) { state in
        if state.inputBytes == 0 {
            if state.inputEnded { return 0 }
            h2t_BIO_set_retry_read(bio)
            return -1
        }
        return Int32(state.read(into: data, length: Int(length)))
    } ?? 0
}

/// OpenSSL asks many things of a BIO (kTLS, flush, …); only four have answers here.
private func bufferBIOControl(_ bio: OpaquePointer?, _ command: Int32, _ larg: Int, _ parg: UnsafeMutableRawPointer?) -> Int {
    switch command {
    case BIO_CTRL_FLUSH: return 1
    case BIO_CTRL_PENDING: return BufferBIO.withState(bio) { $0.inputBytes } ?? 0
    case BIO_CTRL_WPENDING: return BufferBIO.withState(bio) { $0.output?.readableBytes ?? 0 } ?? 0
    case BIO_CTRL_EOF: return BufferBIO.withState(bio) { $0.inputEnded && $0.inputBytes == 0 ? 1 : 0 } ?? 0
    default: return 0
    }
}
