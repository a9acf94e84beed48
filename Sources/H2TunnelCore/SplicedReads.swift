import NIOConcurrencyHelpers
import NIOCore

/// How much a tunnelled socket (a browser at the relay, an upstream at the agent) reads
/// in one loop turn.
///
/// Each socket is read once per turn (`maxMessagesPerRead` 1), and everything read is
/// framed and encrypted before the loop can serve anyone else. So the turn lasts as long
/// as the bulk readers take together, and a page's small request waits that long at
/// every hop. One or two bulk readers read ~64 KiB each, as many large reads as
/// throughput wants. More share `turnBudget` (128 KiB): four read 32 KiB, eight 16 KiB.
///
/// Measured on 2 cores, A/B against fixed 64 KiB reads, a small request's p50 with 4
/// bulk downloads on the same agent connection went 1.9–2.0 → 1.2–1.3 ms (`tcp://`) and
/// 3.6–4.4 → 2.6–3.3 ms (`tls://`). The four downloads together lost 5–6 % MB/s; a lone
/// download reads as before.
public final class SplicedReadBudget: @unchecked Sendable {
    public static let turnBudget = 128 * 1024
    /// Just under 64 KiB: glibc consolidates its fastbins whenever a chunk of 64 KiB or
    /// more is freed, and a read buffer is freed after every read. Buffers of exactly
    /// 64 KiB cost the `tcp://` agent 15 % more CPU per GB than these (A/B, 3 rounds).
    public static let largest = 64 * 1024 - 1024
    public static let smallest = 16 * 1024
    /// A reader stops counting this long after its last full read: it closed, is paused by
    /// backpressure, or caught up with its sender.
    public static let window = TimeAmount.milliseconds(5)

    /// Bulk readers by id: when each last filled its buffer. Touched on the loop only.
    private var lastFull: [Int: NIODeadline] = [:]
    private var lastPrune = NIODeadline.uptimeNanoseconds(0)
    private var nextID = 0

    public init() {}

    /// The read size of each of `bulkReaders` competing readers.
    public static func share(bulkReaders: Int) -> Int {
        min(largest, max(smallest, turnBudget / max(1, bulkReaders)))
    }

    public var bulkReaders: Int { lastFull.count }

    func register() -> Int {
        nextID += 1
        return nextID
    }

    /// Reader `id` filled its buffer at `now`: it is a bulk reader. Returns its next read size.
    public func fullRead(by id: Int, at now: NIODeadline) -> Int {
        lastFull[id] = now
        if now - lastPrune > Self.window {
            lastPrune = now
            lastFull = lastFull.filter { now - $0.value <= Self.window }
        }
        return Self.share(bulkReaders: lastFull.count)
    }

    /// Reader `id` read less than it asked for: it is keeping up, not competing.
    public func shortRead(by id: Int) {
        lastFull.removeValue(forKey: id)
    }

    private static let perLoop = NIOLockedValueBox<[ObjectIdentifier: SplicedReadBudget]>([:])

    /// The budget of `loop`'s turns; one per loop for the life of the process.
    public static func of(_ loop: EventLoop) -> SplicedReadBudget {
        perLoop.withLockedValue { budgets in
            if let budget = budgets[ObjectIdentifier(loop)] { return budget }
            let budget = SplicedReadBudget()
            budgets[ObjectIdentifier(loop)] = budget
            return budget
        }
    }
}

/// The receive allocator of one tunnelled socket, drawing on its loop's `SplicedReadBudget`.
/// Create one per channel, on the channel's loop.
public struct SplicedReadAllocator: RecvByteBufferAllocator, @unchecked Sendable {
    /// Where a socket starts and what an idle one keeps: 10,000 idle browsers cost little.
    public static let initial = 2048

    private let budget: SplicedReadBudget
    private let id: Int
    public private(set) var size = initial

    public init(budget: SplicedReadBudget) {
        self.budget = budget
        self.id = budget.register()
    }

    public init(on loop: EventLoop) {
        self.init(budget: .of(loop))
    }

    public func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: size)
    }

    /// None: NIO then takes a fresh buffer of `size` for every read instead of refilling
    /// the last one to its whole capacity, which would ignore a share that has shrunk.
    public func nextBufferSize() -> Int? { nil }

    public mutating func record(actualReadBytes: Int) -> Bool {
        if actualReadBytes >= size {
            size = budget.fullRead(by: id, at: .now())
        } else {
            budget.shortRead(by: id)
            // Room for twice what came, so a steady reader settles instead of flapping.
            size = max(Self.initial, min(SplicedReadBudget.largest, (2 * actualReadBytes).nextPowerOfTwo()))
        }
        return true
    }
}

extension Int {
    fileprivate func nextPowerOfTwo() -> Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
