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
/// Here, as for the spliced sockets (`SplicedReadAllocator`), no size is offered for
/// reuse, so every read takes a fresh buffer of `size` and NIO keeps only the first one,
/// which is small. `size` follows the traffic: it quadruples after a read that filled
/// the buffer (bulk bytes arrive in large reads: fewer system calls per byte) and halves
/// after two reads that used at most half of it.
public struct LinkReadAllocator: RecvByteBufferAllocator {
    public static let smallest = 4096
    public static let largest = 256 * 1024

    public private(set) var size = smallest
    private var shortReads = 0

    public init() {}

    public func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: size)
    }

    /// None: NIO then allocates `size` for every read instead of refilling its kept
    /// buffer, which would make that buffer as large as the largest read.
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
        // True: the kept buffer is never the one to read into (see nextBufferSize).
        return true
    }
}
