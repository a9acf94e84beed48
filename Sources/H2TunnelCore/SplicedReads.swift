import NIOConcurrencyHelpers
import NIOCore

/// How much a tunnelled socket (a browser at the relay, an upstream at the agent) reads
/// in one loop turn.
///
/// Each socket is read once per turn (`maxMessagesPerRead` 1), and everything read is
/// framed and encrypted before the loop can serve anyone else. So the turn lasts as long
/// as its reads take together, and a page's small request waits that long at every hop.
///
/// - Bulk readers (their last read filled the buffer) share `turnBudget`, 128 KiB: one
///   or two read 64 KiB each, four 32 KiB, eight 16 KiB. Readers that keep up with
///   their sender (small requests) read what comes and do not shrink the shares.
/// - A bulk reader alone on its loop (nobody else read in the last `window`) reads
///   `alone`, 512 KiB: nobody waits for its turn, and each read costs a system call and,
///   once its sender's window opens, a wake-up of that sender. Against 64 KiB reads
///   (A/B, a fresh relay + agent pair per round): a lone `tls://` download costs the
///   agent 15–26 % less CPU per GB; `tcp://` runs 9 % faster on 15–18 % less CPU. One
///   small request is enough to end it: with one download, a 512 KiB read in front of
///   each small request cost it +0.8 ms p50.
///
/// Measured on 2 cores, A/B against fixed 64 KiB reads, a small request's p50 with 4
/// bulk downloads on the same agent connection went 1.9–2.0 → 1.2–1.3 ms (`tcp://`) and
/// 3.6–4.4 → 2.6–3.3 ms (`tls://`).
public final class SplicedReadBudget: @unchecked Sendable {
    public static let turnBudget = 128 * 1024
    public static let alone = 512 * 1024
    /// The most one of several bulk readers reads. ByteBuffer capacities are powers of
    /// two, so shares in between round up to the next one.
    public static let largest = 64 * 1024
    public static let smallest = 16 * 1024
    /// A reader stops counting this long after its last read: it closed, is paused by
    /// backpressure, or went quiet.
    public static let window = TimeAmount.milliseconds(5)

    /// One tunnelled socket's place in its loop's budget. The lists below hold readers, not
    /// ids: a read finds its entry without hashing (two dictionary updates a read were
    /// ~1,000 instructions, 1 % of a keep-alive request at each of relay and agent).
    public final class Reader {
        fileprivate var list = List.none
        /// Index in `bulk` or `keepingUp`, kept as entries move.
        fileprivate var slot = 0
        fileprivate var lastRead = NIODeadline.uptimeNanoseconds(0)

        public init() {}
    }

    fileprivate enum List { case none, bulk, keepingUp }

    /// Touched on the loop only: readers whose last read filled the buffer, and readers
    /// whose last read did not, each until `window` after that read.
    private var bulk: [Reader] = []
    private var keepingUp: [Reader] = []
    private var lastPrune = NIODeadline.uptimeNanoseconds(0)

    public init() {}

    /// The read size of each of `bulkReaders` competing bulk readers.
    public static func share(bulkReaders: Int) -> Int {
        min(largest, max(smallest, turnBudget / max(1, bulkReaders)))
    }

    public var bulkReaders: Int { bulk.count }

    /// `reader` filled its buffer at `now`: it is a bulk reader. Returns its next read size.
    public func fullRead(by reader: Reader, at now: NIODeadline) -> Int {
        reader.lastRead = now
        move(reader, to: .bulk)
        prune(now)
        if bulk.count == 1 && keepingUp.isEmpty { return Self.alone }
        return Self.share(bulkReaders: bulk.count)
    }

    /// `reader` read less than it asked for at `now`: it keeps up with its sender. It does
    /// not compete for the budget, but a bulk reader beside it is no longer alone.
    public func shortRead(by reader: Reader, at now: NIODeadline) {
        reader.lastRead = now
        move(reader, to: .keepingUp)
        prune(now)
    }

    private func move(_ reader: Reader, to list: List) {
        guard reader.list != list else { return }
        remove(reader)
        reader.list = list
        if list == .bulk {
            reader.slot = bulk.count
            bulk.append(reader)
        } else {
            reader.slot = keepingUp.count
            keepingUp.append(reader)
        }
    }

    private func remove(_ reader: Reader) {
        switch reader.list {
        case .none: return
        case .bulk: Self.remove(reader, from: &bulk)
        case .keepingUp: Self.remove(reader, from: &keepingUp)
        }
        reader.list = .none
    }

    /// Swaps the last entry into `reader`'s slot.
    private static func remove(_ reader: Reader, from list: inout [Reader]) {
        let last = list.removeLast()
        guard last !== reader else { return }
        list[reader.slot] = last
        last.slot = reader.slot
    }

    private func prune(_ now: NIODeadline) {
        guard now - lastPrune > Self.window else { return }
        lastPrune = now
        // Backwards: a removal moves the last entry, already looked at, into the slot.
        for index in bulk.indices.reversed() where now - bulk[index].lastRead > Self.window { remove(bulk[index]) }
        for index in keepingUp.indices.reversed() where now - keepingUp[index].lastRead > Self.window {
            remove(keepingUp[index])
        }
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
    private let reader = SplicedReadBudget.Reader()
    public private(set) var size = initial

    public init(budget: SplicedReadBudget) {
        self.budget = budget
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
        let now = NIODeadline.now()
        if actualReadBytes >= size {
            size = budget.fullRead(by: reader, at: now)
        } else {
            budget.shortRead(by: reader, at: now)
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
