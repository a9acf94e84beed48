import H2TunnelCore
import Testing

/// `LinkPacer` fed TCP_INFO readings of a 40 ms path whose link delivers 6 MB/s.
@Suite struct LinkPacerTests {
    /// A connection's readings every 200 ms: bytes acknowledged at `rate`, the smoothed RTT
    /// `queue` µs above the 40 ms minimum, `notSent` bytes waiting.
    struct Link {
        var pacer = LinkPacer()
        var time = 0.0
        var acked: UInt64 = 0
        var minRTT: UInt32 = 40_000

        /// A link whose queue stood for two readings: capped at 0.97 × 6 MB/s.
        static func capped() -> Link {
            var link = Link()
            _ = link.tick()
            _ = link.tick(queue: LinkPacerTests.queued)
            _ = link.tick(queue: LinkPacerTests.queued)
            #expect(LinkPacerTests.near(link.pacer.cap, 5_820_000))
            return link
        }

        /// `delivered`: the kernel's delivery-rate sample, when it differs from `rate`.
        mutating func tick(rate: Double = 6_000_000, queue: UInt32 = 0, notSent: UInt32 = 32_768,
                           delivered: Double? = nil, appLimited: Bool = false) -> UInt64? {
            time += 0.2
            acked += UInt64(rate * 0.2)
            return pacer.update(.init(time: time, minRTT: minRTT, smoothedRTT: minRTT + queue,
                                      bytesAcked: acked, notSent: notSent,
                                      deliveryRate: UInt64(delivered ?? rate), appLimited: appLimited))
        }
    }

    /// Within 0.01 % (the rates are computed in floating point).
    static func near(_ value: UInt64?, _ expected: Double) -> Bool {
        guard let value else { return false }
        return abs(Double(value) - expected) <= expected * 1e-4
    }

    /// 8 ms over a 40 ms path is a queue (the threshold is 2 ms or an eighth of the RTT).
    static let queued: UInt32 = 8_000

    /// The interval a queue appears in may have begun before the link was full; the next,
    /// whole interval of a standing queue gives the link's rate, and the cap is 0.97 × it.
    @Test func aStandingQueueCapsAtTheRateTheLinkDelivers() {
        var link = Link()
        #expect(link.tick() == nil)
        #expect(link.tick(rate: 3_000_000, queue: Self.queued) == nil)
        #expect(Self.near(link.tick(queue: Self.queued), 5_820_000))
        #expect(Self.near(link.pacer.cap, 5_820_000))
        // Draining: still queued, the cap holds.
        #expect(link.tick(rate: 5_820_000, queue: Self.queued) == nil)
    }

    /// One 200 ms reading of acknowledgements can come out short: of the two intervals a
    /// queue stood through, the larger rate sets the cap.
    @Test func aShortReadingDoesNotSetTheCap() {
        var link = Link()
        _ = link.tick()
        _ = link.tick(queue: Self.queued)
        #expect(Self.near(link.tick(rate: 5_000_000, queue: Self.queued), 5_820_000))
    }

    /// After a loss, cumulative acknowledgements jump by all the resent segment held back:
    /// that interval reads far above the link (seen: 9.9 MB/s on a 6.25 MB/s link, which
    /// set the cap too high, so the queue never drained and pacing gave up). The kernel's
    /// delivery-rate sample bounds the reading.
    @Test func anAcknowledgementJumpAfterALossDoesNotSetTheCap() {
        var link = Link()
        _ = link.tick()
        _ = link.tick(queue: Self.queued)
        #expect(Self.near(link.tick(rate: 9_900_000, queue: Self.queued, delivered: 5_950_000), 6_349_150))
        // 0.97 × 1.1 × 5.95 MB/s: at most 2 % over the link, so the next cuts drain the queue.
        #expect(Self.near(link.pacer.cap, 6_349_150))
    }

    /// At the cap with no queue, the cap rises every half second, by 5 %, then 10 %: a link
    /// that got faster is found. A queue sets it back to 0.97 × what the link delivers.
    @Test func theCapRisesUntilAQueueAppears() {
        var link = Link.capped()
        #expect(link.tick(rate: 5_820_000) == nil)   // under half a second since the cap
        #expect(link.tick(rate: 5_820_000) == nil)
        #expect(Self.near(link.tick(rate: 5_820_000), 6_111_000))
        for _ in 0..<3 { _ = link.tick(rate: 6_111_000) }
        #expect(Self.near(link.pacer.cap, 6_722_100))
        _ = link.tick(queue: Self.queued)
        #expect(Self.near(link.tick(queue: Self.queued), 5_820_000))
    }

    /// A queue that stands on under the cap makes it 10 % lower every half second, so it
    /// drains even when a reading came out high. One that outlasts 0.7 × the link's rate
    /// is someone else's (another sender, a longer route): pacing stops for 30 s.
    @Test func aQueueThatStaysLowersTheCapThenStopsPacing() {
        var link = Link.capped()
        var caps: [UInt64] = []
        for _ in 0..<30 where caps.last != .max {
            if let cap = link.tick(rate: 5_000_000, queue: Self.queued) { caps.append(cap) }
        }
        #expect(caps.count == 4 && caps.last == .max && link.pacer.cap == nil)
        #expect(Self.near(caps[0], 5_238_000) && Self.near(caps[1], 4_714_200) && Self.near(caps[2], 4_242_780))
        // Within the 30 s back-off a new queue sets no cap.
        for _ in 0..<20 { #expect(link.tick(queue: Self.queued) == nil) }
        #expect(link.pacer.cap == nil)
    }

    /// Nothing waiting to be sent, or the kernel's last rate sample taken while the sender
    /// had nothing to send (a lone small write waits for a delayed ACK): a high RTT then is
    /// not a queue this connection made, and its rate is no link's rate.
    @Test func anIdleConnectionIsNotPaced() {
        var link = Link()
        for _ in 0..<10 { #expect(link.tick(rate: 1_000, queue: Self.queued, notSent: 0) == nil) }
        for _ in 0..<10 { #expect(link.tick(rate: 1_000, queue: Self.queued, appLimited: true) == nil) }
        #expect(link.tick(rate: 1_000, queue: Self.queued, notSent: 0) == nil)
        #expect(link.tick(rate: 1_000, queue: Self.queued) == nil)   // the reading before had nothing waiting
        #expect(link.pacer.cap == nil)
    }

    /// Loopback and one-rack paths: their RTT swings with CPU, not with a link's queue.
    @Test func aPathUnderAMillisecondIsNeverPaced() {
        var link = Link()
        link.minRTT = 60
        for _ in 0..<10 { #expect(link.tick(rate: 500_000_000, queue: 5_000) == nil) }
        #expect(link.pacer.cap == nil)
    }
}
