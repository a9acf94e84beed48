import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A channel's socket descriptor, for the calls that cost less made on it than through
/// NIO (`setsockopt`, `sendmsg`).
///
/// NIO's own way, `withUnsafeTransportIfAvailable`, casts the channel to
/// `any NIOTransportAccessibleChannelCore<T>`: a cast to a constrained existential costs
/// ~13,400 instructions a call (callgrind), more than the calls it would save. Here the
/// cast is to the plain existential, whose conformance the runtime caches (~600
/// instructions with the rest of a call), and the transport's type is checked once opened.
///
/// Access stays scoped, as NIO's is: the descriptor is lent for one call and never kept,
/// so once NIO closed it (and the process may have given its number to another
/// connection) no call reaches it, and a socket holds no descriptor but NIO's.
public enum ChannelDescriptor {
    /// Lends the descriptor to one call at a time: nil once NIO closed it.
    public typealias Access = ((CInt) -> Int) -> Int?

    /// An `Access` to the channel's socket descriptor, for calls made again and again: the
    /// cast is paid once, here. nil if the channel has no socket (a pipe, an
    /// `EmbeddedChannel`). It holds the channel: drop it when the channel closes. Each call
    /// on the channel's loop.
    public static func access(_ channel: Channel) -> Access? {
        channel.eventLoop.assertInEventLoop()
        guard let core = channel._channelCore as? any NIOTransportAccessibleChannelCore else { return nil }
        return access(opening: core)
    }

    private static func access<Core: NIOTransportAccessibleChannelCore>(opening core: Core) -> Access? {
        guard Core.Transport.self == NIOBSDSocket.Handle.self else { return nil }
        return { body in try? core.withUnsafeTransport { body(unsafeBitCast($0, to: CInt.self)) } }
    }

    /// Sets each option by `setsockopt` on the channel's descriptor, ~300 instructions each
    /// where NIO's generic option path takes ~3,500; false if the channel has no socket or
    /// the kernel refused one (the caller then asks NIO, for its error).
    public static func setOptions(_ options: [(ChannelOptions.Types.SocketOption, SocketOptionValue)], on channel: Channel) -> Bool {
        guard let access = access(channel) else { return false }
        return access { fd in options.allSatisfy { setOption($0.0, value: $0.1, on: fd) } ? 1 : 0 } == 1
    }

    static func setOption(_ option: ChannelOptions.Types.SocketOption, value: SocketOptionValue, on fd: CInt) -> Bool {
        var value = CInt(clamping: value)
        return setsockopt(fd, CInt(option.level), CInt(option.name), &value, socklen_t(MemoryLayout<CInt>.size)) == 0
    }
}
