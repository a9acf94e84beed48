import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a channel's socket without NIO: `sendmsg` on a descriptor of our own.
///
/// NIO's write path (the pipeline's head, its pending-writes queue, its flush, the checks
/// around them, a promise to learn when bytes left) costs ~3,900 instructions a write
/// (callgrind); one `sendmsg` costs a tenth of that. A request through a tunnel makes
/// four socket writes: a TLS record on the agent connection each way (`TLSHandler`) and
/// the tunnelled bytes into the browser's socket at the relay and the app's at the agent
/// (`StreamSplice`). Each writer sends only while NIO holds none of its bytes, so
/// nothing it sends overtakes them, and gives NIO what the socket refused.
///
/// The descriptor is a `dup` of the channel's, closed by `close()` when the channel
/// closes (a socket is released only when its last descriptor is: an RST from SO_LINGER
/// 0 leaves then). After NIO closed its own, ours still names this socket and no other,
/// even if another connection of the process was just given the same number.
public final class SocketWriter {
    private var fd: CInt

    /// nil if the channel has no socket descriptor (a pipe, an `EmbeddedChannel`). On the
    /// channel's loop.
    public init?(channel: Channel) {
        guard let own = ChannelDescriptor.with(channel, { fcntl($0, F_DUPFD_CLOEXEC, 0) }), own >= 0 else { return nil }
        fd = own
    }

    deinit { close() }

    public func close() {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
        fd = -1
    }

    /// Sets a socket option (`ChannelDescriptor.setOptions`); false if the kernel refused it.
    public func setOption(_ option: ChannelOptions.Types.SocketOption, value: SocketOptionValue) -> Bool {
        fd >= 0 && ChannelDescriptor.setOption(option, value: value, on: fd)
    }

    /// Sends `buffers` from byte `offset` on, as much as the socket takes now; returns how
    /// many bytes it took. Less than all: the socket is full, or failed (NIO, given the
    /// rest, then meets the same error).
    public func send(_ buffers: [ByteBuffer], from offset: Int = 0) -> Int {
        var first = 0
        var skip = offset
        var sent = 0
        while fd >= 0 {
            while first < buffers.count, buffers[first].readableBytes <= skip {
                skip -= buffers[first].readableBytes
                first += 1
            }
            guard first < buffers.count else { break }
            let taken = sendOnce(buffers, first: first, skip: skip)
            guard taken > 0 else { break }
            sent += taken
            skip += taken
        }
        return sent
    }

    /// Sends what the socket takes now and removes it from `buffers`.
    public func send(_ buffers: inout [ByteBuffer]) {
        var left = send(buffers)
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

    /// One `sendmsg` of up to 16 buffers from `buffers[first]`, less its first `skip`
    /// bytes; the bytes taken, 0 when none (full or failed).
    private func sendOnce(_ buffers: [ByteBuffer], first: Int, skip: Int) -> Int {
        let count = min(buffers.count - first, 16)
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
                return buffers[first + index].withUnsafeReadableBytes { bytes in
                    let start = index == 0 ? skip : 0
                    vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress.map { $0 + start }),
                                           iov_len: bytes.count - start)
                    return fill(index + 1)
                }
            }
            return fill(0)
        }
    }
}
