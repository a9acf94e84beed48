import H2TunnelHTTP2
import NIOCore
import NIOEmbedded
import Testing

/// One timer for many members, on an embedded loop whose clock the test moves.
@Suite struct LoopSweepTests {
    final class Member: LoopSwept {
        var sweepSlot: Int?
        var looks = 0
        /// Looks after which it leaves by answering false.
        var staysFor: Int

        init(staysFor: Int) { self.staysFor = staysFor }

        func sweep(now: NIODeadline) -> Bool {
            looks += 1
            return looks < staysFor
        }
    }

    @Test func membersAreLookedAtEachIntervalUntilTheyLeaveAndTheTimerStopsWhenEmpty() throws {
        let loop = EmbeddedEventLoop()
        let sweep = LoopSweep.of(loop, interval: .seconds(1))
        let a = Member(staysFor: 1), b = Member(staysFor: 9), c = Member(staysFor: 2)
        for member in [a, b, c] { sweep.add(member) }
        sweep.add(a)   // a second join changes nothing
        #expect(sweep.count == 3)

        sweep.remove(b)   // c takes b's place
        #expect(b.sweepSlot == nil && c.sweepSlot == 1)
        loop.advanceTime(by: .milliseconds(999))
        #expect(a.looks == 0 && c.looks == 0)

        loop.advanceTime(by: .milliseconds(1))
        #expect(a.looks == 1 && b.looks == 0 && c.looks == 1)
        #expect(sweep.count == 1 && a.sweepSlot == nil && c.sweepSlot == 0)

        loop.advanceTime(by: .seconds(1))
        #expect(c.looks == 2 && sweep.count == 0)

        // Empty: no timer runs, and a new member is first looked at an interval later.
        loop.advanceTime(by: .seconds(5))
        #expect(c.looks == 2)
        let d = Member(staysFor: 1)
        sweep.add(d)
        loop.advanceTime(by: .milliseconds(500))
        #expect(d.looks == 0)
        loop.advanceTime(by: .milliseconds(500))
        #expect(d.looks == 1 && sweep.count == 0)
        try loop.syncShutdownGracefully()
    }

    /// A member whose look ends another (a reset closing a socket) must not be looked at
    /// after it left, nor break the pass.
    @Test func aMemberRemovedDuringAPassIsSkipped() throws {
        final class Closer: LoopSwept {
            var sweepSlot: Int?
            let sweep: LoopSweep
            let victim: Member
            init(sweep: LoopSweep, victim: Member) { self.sweep = sweep; self.victim = victim }
            func sweep(now: NIODeadline) -> Bool {
                sweep.remove(victim)
                return false
            }
        }
        let loop = EmbeddedEventLoop()
        let sweep = LoopSweep.of(loop, interval: .seconds(1))
        let victim = Member(staysFor: 9)
        sweep.add(Closer(sweep: sweep, victim: victim))
        sweep.add(victim)
        loop.advanceTime(by: .seconds(1))
        #expect(victim.looks == 0 && sweep.count == 0)
        try loop.syncShutdownGracefully()
    }
}
