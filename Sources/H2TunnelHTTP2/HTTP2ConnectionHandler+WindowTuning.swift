import NIOCore
internal import CNGHTTP2

/// Receive windows sized to the path: a stream's window doubles while it, not the reader,
/// limits the stream.
///
/// A fixed window caps a stream at one window per round trip: 1 MiB over a 20 ms path is
/// 50 MB/s, whatever the link and the reader could do (`ssh -R`, with its fixed 2 MiB
/// channel window, does twice that there). nghttp2 gives a stream's window back every
/// half window written onward. When the reader writes half a window onward in less than
/// two round trips, and bytes did not pile up here (under a quarter window held when the
/// round started and when it ended), the sender was waiting on the window rather than the
/// reader on the sender, so the window doubles, up to `HTTP2Settings.maxStreamWindow`
/// (the rule of Chromium's QUIC flow controller, plus the pile-up check: a slow reader's
/// socket that drains its backlog at once writes half a window onward in no time, yet the
/// reader is what limits it). A reader slower than the path never grows its window, so
/// slow browsers do not make us hold more.
extension HTTP2ConnectionHandler {
    func tuneWindow(_ stream: HTTP2Stream, consumed count: Int) {
        stream.consumedThisRound += count
        guard stream.consumedThisRound >= stream.receiveWindow / 2 else { return }
        let now = eventLoop.now
        let heldAtStart = stream.heldAtRoundStart
        defer {
            stream.consumedThisRound = 0
            stream.windowRoundStart = now
            stream.heldAtRoundStart = stream.unconsumed
        }
        let pileUp = stream.receiveWindow / 4
        guard let session, let rtt = minRTT, stream.receiveWindow < settings.maxStreamWindow,
              now - stream.windowRoundStart < rtt * 2, heldAtStart < pileUp, stream.unconsumed < pileUp else { return }
        let window = min(stream.receiveWindow * 2, settings.maxStreamWindow, Int(Int32.max))
        guard nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, Int32(window)) == 0 else { return }
        stream.receiveWindow = window
    }
}
