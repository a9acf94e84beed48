import NIOCore

/// How one side of an HTTP/2 connection behaves. Defaults suit a tunnel carrying many
/// browser connections over one long-lived TCP connection.
public struct HTTP2Settings: Sendable {
    /// SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.5.2): the most a peer may send on one
    /// stream before we have written it onward. Sized to the bandwidth-delay product of
    /// a fast WAN (1 Gbit/s × 8 ms), not the 64 KiB default that caps a stream at 64 KiB per RTT.
    public var initialStreamWindow: Int = 1 << 20
    /// The most a stream's receive window grows to when it is what limits the stream
    /// (a long path: 1 MiB per 20 ms round trip is 50 MB/s). 16 MiB, given back every
    /// quarter (`giveBack`), keeps 12–16 MiB in flight: 150 MB/s at 80 ms, a 1 Gbit/s
    /// link to a far region; it is also what one stalled stream can hold.
    public var maxStreamWindow: Int = 16 << 20
    /// The connection window: the most bytes all streams together may have in flight to us
    /// beyond what `receiveBudget` lets us hold.
    public var connectionWindow: Int = 16 << 20
    /// Received bytes held (not yet written onward) whose connection window is given back
    /// on receipt, so streams whose readers stop cannot take the connection window from
    /// the others (`ReceiveBudget`). Memory one connection can make us hold:
    /// `receiveBudget` + `connectionWindow`.
    public var receiveBudget: Int = 16 << 20
    /// Over the receive budget, a stream that holds bytes and has written none of them
    /// onward for this long is reset (CANCEL): it is what keeps the others waiting.
    public var stallTimeout: TimeAmount = .seconds(5)
    /// A stream whose queued bytes could not move because the peer kept its window shut
    /// (0) this long is reset (CANCEL): a peer that never opens a window would otherwise
    /// pin the queue, up to `streamHighWatermark`, for good (`checkPeerWindows`). nil: never.
    public var peerWindowTimeout: TimeAmount?
    /// SETTINGS_MAX_FRAME_SIZE we advertise, and the most we put in one DATA frame when the
    /// peer allows it: a quarter as many frames (headers, callbacks, events) per byte as the
    /// 16 KiB default, while a frame still takes only ~0.1 ms of a 1 GB/s link, so streams
    /// keep interleaving finely.
    public var maxFrameSize: Int = 64 * 1024
    /// Server role: a stream that has sent this many bytes since its queue last ran dry
    /// drops from RFC 9218 urgency 3 to 4 until it runs dry again, so streams that send in
    /// short bursts (page objects, TLS handshakes) go before bulk transfers
    /// (`HTTP2ConnectionHandler+Urgency`). 256 KiB is a large page object, and 41 ms of a
    /// 50 Mbit/s uplink. nil: every stream keeps the urgency it was opened with.
    public var bulkAfter: Int? = 256 * 1024
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise.
    public var maxConcurrentStreams: Int = 20_000
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3); only a server advertises it.
    public var enableConnectProtocol: Bool = false
    /// A stream stops accepting writes (its source should stop reading) above this many
    /// queued bytes, and resumes below `streamLowWatermark`.
    public var streamHighWatermark: Int = 256 * 1024
    public var streamLowWatermark: Int = 64 * 1024
    /// Client role: how many streams the connection opens in its life before
    /// `isSpent` says it is time for a new one. Stream IDs are odd and never reused, so
    /// no connection can open more than 2^30 (RFC 9113 §5.1.1), ~15 hours at 20,000 a
    /// second; the default stops 100,000 short of that.
    public var lifetimeStreams: Int = (1 << 30) - 100_000
    /// PING every `pingInterval`; a PING unanswered after `pingTimeout` closes the connection.
    /// With it, a few PINGs also go as soon as the connection is up, for the round-trip time
    /// that stream windows are tuned against; nil sends no PING unasked.
    public var pingInterval: TimeAmount? = .seconds(15)
    public var pingTimeout: TimeAmount = .seconds(10)
    /// Largest header block accepted from the peer (nghttp2's default is 64 KiB).
    public var maxHeaderListSize: Int = 16 * 1024
    /// Server role: keep nghttp2's Rapid Reset defence (CVE-2023-44487). In Debian's 1.52
    /// it allows 1,000 RST_STREAMs in a burst and 33 a second after that, then ends the
    /// connection with GOAWAY INTERNAL_ERROR. Right for a server that browsers reach; not
    /// for the agent's link, where every RST_STREAM is a browser that went away, forwarded
    /// by the relay the agent authenticated (`AgentConfiguration`).
    public var limitsPeerResets: Bool = true

    public init() {}
}
