import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a channel's socket without NIO: `sendmsg` on a descriptor of our own.
///
/// NIO's write path (the pipeline's head, its pending-writes queue, its flush, the checks
/// around them) costs ~3,900 instructions for each TLS record an agent connection sends,
/// about one a request in each of relay and agent (callgrind); one `sendmsg` costs a tenth
/// of that. The descriptor is a `dup` of the channel's, closed only by `close()`: after
/// NIO closed its own, ours still names this socket and no other, even if another
/// connection of the process was just given the same number.
final class SocketWriter {
    private var fd: CInt

    /// nil if the channel does not expose its descriptor (an `EmbeddedChannel`).
    init?(channel context: ChannelHandlerContext) {
        let own = try? context.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) {
            fcntl($0, F_DUPFD_CLOEXEC, 0)
        }
        guard let own, own >= 0 else { return nil }
        fd = own
    }

    deinit { close() }

    func close() {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
        fd = -1
    }

    /// Sends what the socket takes now and removes it from `buffers`; what is left waits
    /// for the socket (it was full, or failed: NIO then meets the same error).
    func send(_ buffers: inout [ByteBuffer]) {
        while fd >= 0, !buffers.isEmpty {
            let sent = sendOnce(buffers)
            guard sent > 0 else { return }
            var left = sent
            while left > 0 {
                let count = buffers[0].readableBytes
                if count <= left {
                    left -= count
                    buffers.removeFirst()
                } else {
                    buffers[0].moveReaderIndex(forwardBy: left)
                    left = 0
                }
            }
        }
    }

    /// One `sendmsg` of up to 16 buffers; the bytes taken, 0 when none (full or failed).
    private func sendOnce(_ buffers: [ByteBuffer]) -> Int {
        let count = min(buffers.count, 16)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
            func fill(_ index: Int) -> Int {
                guard index < count else {
                    var message = msghdr()
                    message.msg_iov = vectors.baseAddress
                    message.msg_iovlen = count
                    while true {
                        let sent = sendmsg(fd, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                        if sent >= 0 { return sent }
                        if errno != EINTR { return 0 }
                    }
                }
                return buffers[index].withUnsafeReadableBytes { bytes in
                    vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return fill(index + 1)
                }
            }
            return fill(0)
        }
    }
}
