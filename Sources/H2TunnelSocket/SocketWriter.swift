import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a channel's socket without NIO: `sendmsg` on the channel's own descriptor.
///
/// NIO's write path (the pipeline's head, its pending-writes queue, its flush, the checks
/// around them, a promise to learn when bytes left) costs ~3,900 instructions a write
/// (callgrind); one `sendmsg` costs a tenth of that. A request through a tunnel makes
/// four socket writes: a TLS record on the agent connection each way (`TLSHandler`) and
/// the tunnelled bytes into the browser's socket at the relay and the app's at the agent
/// (`StreamSplice`). Each writer sends only while NIO holds none of its bytes, so
/// nothing it sends overtakes them, and gives NIO what the socket refused.
///
/// The descriptor is lent for each call (`ChannelDescriptor.Access`), not kept: after NIO
/// closed it, a send takes nothing and the bytes go to NIO, which fails them. A socket so
/// keeps one descriptor, and closes (with its FIN, or the RST of SO_LINGER 0) when NIO
/// closes it. An earlier version sent on a `dup`: each tunnel then held two descriptors
/// in each process, halving how many fit under an open-file limit.
public final class SocketWriter {
    private var access: ChannelDescriptor.Access?

    /// nil if the channel has no socket descriptor (a pipe, an `EmbeddedChannel`). On the
    /// channel's loop.
    public init?(channel: Channel) {
        guard let access = ChannelDescriptor.access(channel) else { return nil }
        self.access = access
    }

    /// Lets go of the channel (the access holds it); every later call does nothing.
    public func close() {
        access = nil
    }

    /// Sets a socket option (`ChannelDescriptor.setOptions`); false if the kernel refused it.
    public func setOption(_ option: ChannelOptions.Types.SocketOption, value: SocketOptionValue) -> Bool {
        access? { ChannelDescriptor.setOption(option, value: value, on: $0) ? 1 : 0 } == 1
    }

    /// SO_LINGER on with 0 s: the socket's close sends an RST, as a reset should. NIO's
    /// `setSoLinger` goes through a future; false if the kernel refused.
    public func resetOnClose() -> Bool {
        access? { fd in
            var value = linger(l_onoff: 1, l_linger: 0)
            return setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size)) == 0 ? 1 : 0
        } == 1
    }

    /// Sends `buffers` from byte `offset` on, as much as the socket takes now; returns how
    /// many bytes it took. Less than all: the socket is full, or failed (NIO, given the
    /// rest, then meets the socket's error itself).
    public func send(_ buffers: [ByteBuffer], from offset: Int = 0) -> Int {
        access? { fd in
            var first = 0
            var skip = offset
            var sent = 0
            while true {
                while first < buffers.count, buffers[first].readableBytes <= skip {
                    skip -= buffers[first].readableBytes
                    first += 1
                }
                guard first < buffers.count else { break }
                let (taken, offered) = Self.sendOnce(fd, buffers, first: first, skip: skip)
                sent += taken
                skip += taken
                // Less than offered: the socket is full (or failed); asking again would only
                // get EAGAIN, and NIO asks once more anyway.
                guard taken == offered else { break }
            }
            return sent
        } ?? 0
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
    /// bytes: the bytes taken (0 when none: full or failed) and the bytes offered.
    private static func sendOnce(_ fd: CInt, _ buffers: [ByteBuffer], first: Int, skip: Int) -> (Int, Int) {
        let count = min(buffers.count - first, 16)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
            func fill(_ index: Int, _ offered: Int) -> (Int, Int) {
                guard index < count else {
                    var message = msghdr()
                    message.msg_iov = vectors.baseAddress
                    message.msg_iovlen = count
                    while true {
                        let sent = sendmsg(fd, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                        if sent >= 0 { return (sent, offered) }
                        if errno != EINTR { return (0, offered) }
                    }
                }
                return buffers[first + index].withUnsafeReadableBytes { bytes in
                    let start = index == 0 ? skip : 0
                    vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress.map { $0 + start }),
                                           iov_len: bytes.count - start)
                    return fill(index + 1, offered + bytes.count - start)
                }
            }
            return fill(0, 0)
        }
    }
}
