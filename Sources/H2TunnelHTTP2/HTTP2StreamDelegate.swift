import NIOCore

/// What happens on one stream, told on the connection's event loop, never from inside
/// an nghttp2 callback (so a delegate may write, end or reset the stream right away).
public protocol HTTP2StreamDelegate: AnyObject {
    /// A response (client) or trailers arrived.
    func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers)
    /// DATA payload, a zero-copy slice of what was read. Call `stream.consume(_:)` with its
    /// length once it was written onward: that, and only that, re-opens the peer's window.
    func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer)
    /// Every DATA frame of the read that just ended was told: a delegate that gathers them
    /// writes them onward now, in one batch per read rather than one write per frame.
    func streamDidEndDataBurst(_ stream: HTTP2Stream)
    /// The peer sent END_STREAM: its half is closed (a TCP FIN at the far end).
    func streamDidReceiveEnd(_ stream: HTTP2Stream)
    /// The stream is gone: `errorCode` 0 after both ends finished, else the RST_STREAM
    /// code (or CANCEL when the whole connection was lost).
    func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32)
    /// `stream.isWritable` changed: the source feeding it may read again (or should pause).
    func streamWritabilityChanged(_ stream: HTTP2Stream)
    /// The stream is about to be reset (CANCEL): its peer kept its window shut for
    /// `HTTP2Settings.peerWindowTimeout` while `queuedBytes` waited. For the log.
    func streamWillResetForShutWindow(_ stream: HTTP2Stream, queuedBytes: Int)
}

extension HTTP2StreamDelegate {
    public func streamDidEndDataBurst(_ stream: HTTP2Stream) {}
    public func streamWillResetForShutWindow(_ stream: HTTP2Stream, queuedBytes: Int) {}
}

/// What happens on a connection as a whole, on its event loop.
public protocol HTTP2ConnectionDelegate: AnyObject {
    /// The peer's SETTINGS arrived: streams may be opened now.
    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler)
    /// Server role: a new request. Set `stream.delegate` and answer with `respond`, or `reset`.
    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream)
    /// The peer sent GOAWAY: open no more streams here.
    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32)
    /// The connection closed; `reason` is nil after an orderly end.
    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?)
    /// Over its receive budget, the connection resets `stream` (CANCEL) because its reader
    /// took none of the `heldBytes` it holds for `HTTP2Settings.stallTimeout`. For the log.
    func connection(_ connection: HTTP2ConnectionHandler, willResetStalledStream stream: HTTP2Stream, heldBytes: Int)
    /// A PING came back: `smallest` is the smallest round trip seen so far, the one stream
    /// windows are tuned against. For `/agents`.
    func connection(_ connection: HTTP2ConnectionHandler, didMeasureRoundTrip smallest: TimeAmount)
}

extension HTTP2ConnectionDelegate {
    /// h2probe has nothing to report about it; relay and agent log it.
    public func connection(_ connection: HTTP2ConnectionHandler, willResetStalledStream stream: HTTP2Stream, heldBytes: Int) {}
    /// Only the relay shows it.
    public func connection(_ connection: HTTP2ConnectionHandler, didMeasureRoundTrip smallest: TimeAmount) {}
}
