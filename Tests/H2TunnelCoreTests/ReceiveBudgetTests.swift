@testable import H2TunnelHTTP2
import NIOCore
import Testing

@Suite struct ReceiveBudgetTests {
    /// Within the budget every byte's connection window comes back as it arrives; beyond
    /// it, only as held bytes leave; and in the end every byte was given back exactly once.
    @Test func creditsOnReceiptWithinTheBudgetAndEachByteOnce() {
        var budget = ReceiveBudget(budget: 100)
        var credited = budget.received(60)
        #expect(credited == 60)
        credited += budget.received(60)          // 120 held: 20 over
        #expect(credited == 100 && budget.owed == 20 && budget.isExceeded)
        credited += budget.received(30)          // 150 held: 50 over
        #expect(credited == 100 && budget.owed == 50)
        credited += budget.released(30)          // 120 held: 20 over
        #expect(credited == 130 && budget.owed == 20)
        credited += budget.released(120)
        #expect(credited == 150 && budget.owed == 0 && budget.held == 0 && !budget.isExceeded)
    }

    /// A budget of zero is the strict rule: window comes back only as bytes leave.
    @Test func zeroBudgetCreditsOnlyOnRelease() {
        var budget = ReceiveBudget(budget: 0)
        #expect(budget.received(10) == 0)
        #expect(budget.released(4) == 4)
        #expect(budget.released(100) == 6)
        #expect(budget.held == 0)
    }
}

@Suite struct StalledStreamTests {
    /// Tunnels of a client with 64 KiB stream windows and a 256 KiB connection window.
    static func pair(budget: Int, stallTimeout: TimeAmount = .seconds(5)) throws -> Pair {
        try Pair { settings in
            settings.initialStreamWindow = 64 << 10
            settings.connectionWindow = 256 << 10
            settings.receiveBudget = budget
            settings.stallTimeout = stallTimeout
        }
    }

    /// The server sends 128 KiB down each of `count` tunnels that nobody reads.
    static func stalledTunnels(_ pair: Pair, count: Int) throws -> [(recorder: Recorder, stream: HTTP2Stream)] {
        let tunnels = try (0..<count).map { _ in
            let recorder = Recorder()
            return (recorder, try pair.openTunnel(delegate: recorder))
        }
        try pair.pump()
        for stream in pair.serverRecorder.requests { stream.write(Pair.patterned(128 << 10, step: 3)) }
        try pair.pump()
        return tunnels
    }

    /// Eight unread tunnels hold 8 × 64 KiB, twice the connection window; a ninth still
    /// gets its bytes. With the strict rule (budget 0) the same eight freeze it.
    @Test func unreadStreamsLeaveTheConnectionWindowToOthers() throws {
        for (budget, expected) in [(512 << 10, 64 << 10), (0, 0)] {
            let pair = try Self.pair(budget: budget)
            let stalled = try Self.stalledTunnels(pair, count: 8)
            let held = stalled.map(\.recorder.received.readableBytes).reduce(0, +)
            #expect(held == (budget > 0 ? 8 * (64 << 10) : 256 << 10))
            let fresh = Recorder()
            _ = try pair.openTunnel(delegate: fresh)
            try pair.pump()
            pair.serverRecorder.requests.last!.write(Pair.patterned(64 << 10, step: 5))
            try pair.pump()
            #expect(fresh.received.readableBytes == expected, "budget \(budget)")
        }
    }

    /// Over budget, streams whose reader took nothing for the stall timeout are reset
    /// (CANCEL), only as many as bring the connection back under its budget, and their
    /// window comes back; a slow reader that keeps taking bytes stays.
    @Test func overBudgetStalledStreamsAreResetAndSlowReadersKept() throws {
        let pair = try Self.pair(budget: 128 << 10)
        let tunnels = try Self.stalledTunnels(pair, count: 6)
        let recorders = tunnels.map(\.recorder)
        #expect(recorders.map(\.received.readableBytes) == Array(repeating: 64 << 10, count: 6))
        let slow = tunnels[5].stream

        pair.loop.advanceTime(by: .seconds(3))
        try pair.pump()
        #expect(recorders.allSatisfy { $0.closedWith == nil })
        slow.consume(16 << 10)                        // the slow reader takes a little
        try pair.pump()

        pair.loop.advanceTime(by: .seconds(3))        // 6 s: five stalled, one slow
        try pair.pump()
        // 384 KiB held against a 128 KiB budget: four stalled streams of 64 KiB make up for it.
        #expect(recorders[0..<5].filter { $0.closedWith == HTTP2ErrorCode.cancel }.count == 4)
        #expect(recorders[5].closedWith == nil)
        #expect(pair.clientRecorder.stalledResets.count == 4)
        pair.loop.advanceTime(by: .seconds(3))        // under budget now: nobody else goes
        try pair.pump()
        #expect(pair.clientRecorder.stalledResets.count == 4)
        // Their window came back: the slow reader's stream moves on as it reads.
        slow.consume(64 << 10)
        try pair.pump()
        #expect(recorders[5].received.readableBytes == 128 << 10)
        #expect(recorders[5].received == Pair.patterned(128 << 10, step: 3))
    }
}
