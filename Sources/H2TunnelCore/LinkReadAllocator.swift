import NIOCore

/// The receive allocator of an agent connection, at the relay and at the agent.
///
/// NIO keeps the buffer of a channel's last read for the next one and only ever grows it
/// to the size its allocator asks for (`NIOPooledRecvBufferAllocator`). With an adaptive
/// allocator, every agent connection therefore kept the largest buffer it had ever read
/// into (64 KiB from the start, up to 256 KiB after a download) for as long as it
/// lived, idle or not. A relay holds one such connection per company, most of them idle
/// most of the time.
///
/// Here, as for the spliced sockets (`SplicedReadAllocator`), every read takes a fresh
/// buffer of `size`. NIO stores the first buffers it allocates, as many as the channel's
/// `maxMessagesPerRead` (1 at both ends of an agent connection), and never refills them,
/// so what it keeps is small: at the relay the 2 KiB buffer that read the ClientHello,
/// at the agent the first 4 KiB one. `size` follows the traffic: it quadruples after a
/// read that filled the buffer (bulk bytes arrive in large reads: fewer system calls per
/// byte) and halves after two reads that used at most half of it.
public struct LinkReadAllocator: RecvByteBufferAllocator {
    public static let smallest = 4096
    public static let largest = 256 * 1024

    public private(set) var size = smallest
    private var shortReads = 0

    public init() {}

    public func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: size)
    }

    /// None, so NIO never grows a kept buffer to a size asked for. Together with
    /// `record` answering true it never reads into a kept buffer at all.
    public func nextBufferSize() -> Int? { nil }

    public mutating func record(actualReadBytes: Int) -> Bool {
        if actualReadBytes >= size {
            size = min(Self.largest, size * 4)
            shortReads = 0
        } else if actualReadBytes <= size / 2 {
            shortReads += 1
            if shortReads == 2 {
                size = max(Self.smallest, size / 2)
                shortReads = 0
            }
        } else {
            shortReads = 0
        }
        // True ("may grow"): NIO then allocates `size` for the next read. False would
        // make it refill its kept buffer, whatever its size: reads would never grow.
        return true
    }
}
