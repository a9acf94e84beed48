/// Keeps the bottleneck's queue empty on the agent's uplink by pacing the relay connection
/// just below the rate the link delivers (SO_MAX_PACING_RATE), so bytes wait in nghttp2,
/// where a page can pass a download, not in the office router, where nothing can.
///
/// BBR, the congestion control this is measured with, paces at its estimate of the path's
/// rate; an estimate ~1 % high keeps a standing queue of up to one bandwidth-delay product
/// at the bottleneck (127–226 KiB, 20–37 ms, on 50 Mbit/s + 40 ms in `Tools/bench --wan`),
/// and a full queue drops, which stalls every stream behind the lost segment. Paced at
/// 0.95 × the link's rate by a fixed SO_MAX_PACING_RATE, a page beside four downloads
/// took 1.36–1.44 × idle instead of 2.2–3.2 ×.
///
/// The rule, checked every `LinkTuner.interval` from TCP_INFO:
/// - A queue is the smoothed RTT above the path's minimum by more than `queueThreshold`
///   while the connection is busy: bytes waited to be sent at both readings and the
///   kernel's last delivery-rate sample was not application-limited (a lone small write
///   waits for a delayed ACK and looks like a queue, and its rate is no link's rate).
/// - While a queue stands the link is full, so what it delivers is its rate: after one
///   whole interval of queue the cap becomes `headroom` × the best rate of the episode.
/// - A queue that stands on under the cap for `decreaseEvery` makes the cap 10 % lower:
///   a reading of acknowledgements can come out high, and the queue must drain. Under
///   `giveUpBelow` × the episode's rate the queue is not this connection's to drain
///   (another sender on the link, a longer route): pacing stops for `backoff`.
/// - With no queue and sending at the cap (0.95 × it or more), the cap rises (5 %, then
///   10 %, 20 %...) every `raiseEvery`, to find a link that got faster; a cap the link no
///   longer reaches restarts the steps at 5 %, and the next queue sets it back.
/// - Paths under `minimumRTT` (loopback, one rack) are never paced: their "queue" is CPU.
public struct LinkPacer: Sendable {
    /// One reading of the connection's TCP_INFO.
    public struct Sample: Sendable {
        /// Seconds on a monotonic clock.
        public var time: Double
        public var minRTT: UInt32       // µs
        public var smoothedRTT: UInt32  // µs
        public var bytesAcked: UInt64
        public var notSent: UInt32
        /// `tcpi_delivery_rate`, bytes/s.
        public var deliveryRate: UInt64
        /// `tcpi_delivery_rate_app_limited`: the last rate sample was taken while the
        /// sender had nothing to send.
        public var appLimited: Bool

        public init(time: Double, minRTT: UInt32, smoothedRTT: UInt32, bytesAcked: UInt64, notSent: UInt32,
                    deliveryRate: UInt64, appLimited: Bool = false) {
            self.time = time
            self.minRTT = minRTT
            self.smoothedRTT = smoothedRTT
            self.bytesAcked = bytesAcked
            self.notSent = notSent
            self.deliveryRate = deliveryRate
            self.appLimited = appLimited
        }
    }

    /// 0.97: a queue drains at 3 % of the rate at least, and a capped transfer keeps
    /// 0.97 × 0.956 = 0.93 of an Ethernet link's rate.
    public static let headroom = 0.97
    public static let minimumRTT: UInt32 = 1_000            // µs
    /// 2 ms, or an eighth of the path's RTT if that is more: a link's jitter is no queue.
    public static func queueThreshold(minRTT: UInt32) -> UInt32 { max(2_000, minRTT / 8) }
    public static let decreaseEvery = 0.5
    public static let giveUpBelow = 0.7
    public static let backoff = 30.0
    public static let raiseEvery = 0.5
    public static let firstRaise = 0.05
    public static let deliverySampleMargin = 1.1
    /// Below this no cap is set (bytes/s).
    public static let floor = 64.0 * 1024

    /// The pacing cap in bytes per second; nil: not paced.
    public private(set) var cap: UInt64?
    private var last: Sample?
    /// The best rate delivered in the current queue episode (nil: no queue), bytes/s.
    private var episodeRate: Double?
    private var lastChange = -Double.infinity
    private var raiseStep = LinkPacer.firstRaise
    private var pausedUntil = -Double.infinity

    public init() {}

    /// Takes a reading; returns the new cap when it changed (`UInt64.max`: unpaced).
    public mutating func update(_ sample: Sample) -> UInt64? {
        defer { last = sample }
        guard let last, sample.time > last.time, sample.bytesAcked >= last.bytesAcked else { return nil }
        // Cumulative acknowledgements stand still through a loss and then jump by everything
        // the resent segment held back (0.5 MB in 30 ms on 50 Mbit/s): such an interval
        // reads 1.6 × the link. The kernel's own sample counts SACKed bytes as they arrive,
        // so it bounds the reading (with a margin for its own noise).
        let acked = Double(sample.bytesAcked - last.bytesAcked) / (sample.time - last.time)
        let rate = min(acked, Double(sample.deliveryRate) * Self.deliverySampleMargin)
        let before = cap
        let busy = sample.notSent > 0 && last.notSent > 0 && !sample.appLimited
        let queued = sample.smoothedRTT > sample.minRTT + Self.queueThreshold(minRTT: sample.minRTT)
        if sample.minRTT < Self.minimumRTT || sample.time < pausedUntil {
            cap = nil
            episodeRate = nil
        } else if queued && busy {
            raiseStep = Self.firstRaise
            if let best = episodeRate {
                let best = max(best, rate)
                episodeRate = best
                let paced = best * Self.headroom
                if cap.map({ Double($0) > paced }) ?? true {
                    // The first whole interval of this queue (the one it appeared in may have
                    // begun before the link filled, in TCP's start-up).
                    if paced >= Self.floor { setCap(paced, at: sample.time) }
                } else if let current = cap, sample.time - lastChange >= Self.decreaseEvery {
                    let lower = Double(current) * 0.9
                    if lower < best * Self.giveUpBelow {
                        cap = nil
                        episodeRate = nil
                        pausedUntil = sample.time + Self.backoff
                    } else {
                        setCap(lower, at: sample.time)
                    }
                }
            } else {
                episodeRate = rate
            }
        } else if !queued {
            episodeRate = nil
            if let current = cap, busy, sample.time - lastChange >= Self.raiseEvery {
                if rate >= 0.95 * Double(current) {
                    setCap(Double(current) * (1 + raiseStep), at: sample.time)
                    raiseStep = min(raiseStep * 2, 1)
                } else {
                    // The cap does not hold the link back: nothing to find above it.
                    raiseStep = Self.firstRaise
                }
            }
        }
        return cap == before ? nil : (cap ?? .max)
    }

    private mutating func setCap(_ rate: Double, at time: Double) {
        cap = UInt64(rate)
        lastChange = time
    }
}
