internal import CMalloc
import NIOCore

/// Socket and allocator settings of the data path, in one place so relay and agent agree.
public enum SocketTuning {
    /// TCP_NOTSENT_LOWAT (Linux 3.12): the agent connection's socket counts as writable only
    /// while less than this is queued unsent in the kernel. Bytes then wait in nghttp2's
    /// queues, where RFC 9218 scheduling can still put a page load before a bulk download,
    /// instead of in a multi-megabyte kernel buffer where nothing can reorder them.
    public static let notSentLowWatermark = 128 * 1024

    /// Output buffered in NIO above TCP for the agent connection before it stops taking more.
    public static let agentConnectionWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 64 * 1024, high: 256 * 1024)

    /// Large reads on the one connection that carries every tunnel: fewer syscalls per byte.
    public static let agentConnectionReads = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 256 * 1024)

    public static var notSentLowWatermarkOption: ChannelOptions.Types.SocketOption {
        ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 25))   // TCP_NOTSENT_LOWAT
    }

    /// glibc returns freed memory to the kernel eagerly (madvise/trim on every large free),
    /// which on a data path that frees 64 KiB buffers all the time costs ~20 % CPU.
    /// Keeping a few MiB around is cheaper; peaks stay bounded by backpressure.
    /// Freed memory that is not at the top of the heap comes back through `HeapTrimmer`.
    public static func tuneAllocator() {
        _ = mallopt(M_TRIM_THRESHOLD, 32 << 20)
        _ = mallopt(M_TOP_PAD, 4 << 20)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        HeapTrimmer.start()
    }
}
