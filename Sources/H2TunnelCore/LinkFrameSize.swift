/// Sizes the agent's DATA frames to its link: each frame takes at most `frameTime` of the
/// rate the kernel paces the relay connection at (TCP_INFO `tcpi_pacing_rate`: BBR's
/// estimate of the path, or cwnd ÷ RTT for other congestion control, under `LinkPacer`'s
/// cap). `LinkTuner` applies it.
///
/// A stream that becomes ready waits for the frame already being sent. At 64 KiB that is
/// 10 ms of a 50 Mbit/s uplink and 0.5 ms of 1 Gbit/s; at 16 KiB, 2.6 ms on the slow link,
/// but four times the frames, callbacks and TLS records per byte on a fast one. Measured
/// with `Tools/bench --wan`, 50 Mbit/s, 4 downloads beside a page (two runs each, urgency
/// demotion on): 16 KiB frames cut the small request's p50 from 98–100 to 88 ms and the
/// paced page from 1.72–1.77 to 1.52–1.59 × idle.
public enum LinkFrameSize {
    /// The longest a frame may hold the link: 2 ms.
    public static let frameTime = 0.002
    /// RFC 9113 §4.2: no peer may refuse 16 KiB.
    public static let smallest = 16 * 1024

    /// The frame size for a link paced at `bytesPerSecond`, between `smallest` and `largest`.
    /// 0 (no rate known yet) gives `largest`.
    public static func size(pacingBytesPerSecond rate: UInt64, largest: Int) -> Int {
        guard rate > 0 else { return largest }
        let fits = Double(rate) * frameTime
        return fits >= Double(largest) ? largest : max(smallest, Int(fits))
    }
}
