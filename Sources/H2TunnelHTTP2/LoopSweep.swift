import NIOConcurrencyHelpers
import NIOCore

/// A member of a `LoopSweep`: looked at once per pass, on the sweep's loop.
public protocol LoopSwept: AnyObject {
    /// Its place in the sweep's list while it is in it; kept by the sweep.
    var sweepSlot: Int? { get set }
    /// One look, at `now`. Returns false to leave the sweep (its deadline passed, or
    /// there is nothing left to watch).
    func sweep(now: NIODeadline) -> Bool
}

/// The coarse timeouts of many connections on one event loop (a tunnel gone idle, a
/// browser that never sent its ClientHello), looked at by one repeating timer instead of
/// a scheduled task per connection.
///
/// A task scheduled and then cancelled costs its connection ~5,000 instructions (NIO's
/// task, its promise and future, the deadline heap both ways; callgrind), and nearly every
/// such timer is cancelled: most connections end long before their timeout. Joining and
/// leaving a sweep is an append and a swap-remove. The price is resolution: a member is
/// looked at every `interval`, in the sweep's phase rather than its own, so its owner
/// sets the interval to the lateness it accepts. The timer runs only while the sweep has
/// members. Touched on its loop only.
public final class LoopSweep: @unchecked Sendable {
    public let loop: EventLoop
    public let interval: TimeAmount
    private var members: [LoopSwept] = []
    private var timer: RepeatedTask?

    init(loop: EventLoop, interval: TimeAmount) {
        self.loop = loop
        self.interval = interval
    }

    public var count: Int { members.count }

    /// Joins (again: a member already in it stays once).
    public func add(_ member: LoopSwept) {
        loop.preconditionInEventLoop()
        guard member.sweepSlot == nil else { return }
        member.sweepSlot = members.count
        members.append(member)
        if timer == nil {
            timer = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in self.pass() }
        }
    }

    /// Leaves; a member not in it is ignored.
    public func remove(_ member: LoopSwept) {
        loop.preconditionInEventLoop()
        guard let slot = member.sweepSlot else { return }
        member.sweepSlot = nil
        let last = members.removeLast()
        if last !== member {
            members[slot] = last
            last.sweepSlot = slot
        }
    }

    /// One look at every member. Members a look makes leave (a reset closes a channel,
    /// whose member leaves) are skipped: the pass walks a copy and asks each its slot.
    private func pass() {
        let now = NIODeadline.now()
        for member in members where member.sweepSlot != nil {
            if !member.sweep(now: now) { remove(member) }
        }
        if members.isEmpty {
            timer?.cancel()
            timer = nil
        }
    }

    private static let perLoop = NIOLockedValueBox<[Key: LoopSweep]>([:])

    private struct Key: Hashable {
        var loop: ObjectIdentifier
        var interval: Int64
    }

    /// The sweep of `loop` with this interval; one each for the life of the process.
    public static func of(_ loop: EventLoop, interval: TimeAmount) -> LoopSweep {
        perLoop.withLockedValue { sweeps in
            let key = Key(loop: ObjectIdentifier(loop), interval: interval.nanoseconds)
            if let sweep = sweeps[key] { return sweep }
            let sweep = LoopSweep(loop: loop, interval: interval)
            sweeps[key] = sweep
            return sweep
        }
    }
}
