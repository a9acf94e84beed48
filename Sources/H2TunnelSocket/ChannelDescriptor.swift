import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A channel's socket descriptor, for the few calls that are cheaper made on it than
/// through NIO (`setsockopt`, `sendmsg`, `dup`).
///
/// NIO's own way, `withUnsafeTransportIfAvailable`, casts the channel to
/// `any NIOTransportAccessibleChannelCore<T>`: a cast to a constrained existential costs
/// ~13,400 instructions a call (callgrind), more than the calls it would save. Here the
/// cast is to the plain existential, whose conformance the runtime caches, and the
/// transport's type is checked once opened.
public enum ChannelDescriptor {
    /// `body` with the channel's socket descriptor, on the channel's loop; nil if it has
    /// none (a pipe, an `EmbeddedChannel`). The descriptor is NIO's: not to be closed, nor
    /// kept past `body`.
    public static func with<Result>(_ channel: Channel, _ body: (CInt) -> Result) -> Result? {
        guard let core = channel._channelCore as? any NIOTransportAccessibleChannelCore else { return nil }
        return open(core, body)
    }

    private static func open<Core: NIOTransportAccessibleChannelCore, Result>(_ core: Core,
                                                                              _ body: (CInt) -> Result) -> Result? {
        try? core.withUnsafeTransport { transport in (transport as? NIOBSDSocket.Handle).map(body) }
    }

    /// Sets each option by `setsockopt` on the channel's descriptor, a few hundred
    /// instructions each where NIO's generic option path takes ~3,500; false if the channel
    /// has no descriptor or the kernel refused one (the caller then asks NIO, for its error).
    public static func setOptions(_ options: [(ChannelOptions.Types.SocketOption, SocketOptionValue)], on channel: Channel) -> Bool {
        with(channel) { fd in options.allSatisfy { setOption($0.0, value: $0.1, on: fd) } } ?? false
    }

    static func setOption(_ option: ChannelOptions.Types.SocketOption, value: SocketOptionValue, on fd: CInt) -> Bool {
        var value = CInt(clamping: value)
        return setsockopt(fd, CInt(option.level), CInt(option.name), &value, socklen_t(MemoryLayout<CInt>.size)) == 0
    }
}
