import NIOCore
internal import CNGHTTP2

/// Streams whose peer stopped reading: their bytes wait in our queue because the peer's
/// flow-control window (RFC 9113 §6.9) stays at 0. The queue is bounded (the source pauses
/// above `streamHighWatermark`), but a peer that never opens the window would hold it, and
/// the source's socket, for good.
extension HTTP2ConnectionHandler {
    /// Arms the next window check, if `peerWindowTimeout` is set and none is armed: called
    /// when a stream's queue goes from empty to not, so idle connections hold no timer.
    func watchPeerWindows() {
        guard let timeout = settings.peerWindowTimeout, windowCheck == nil, !isClosed else { return }
        windowCheck = eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds / 2)) { self.checkPeerWindows() }
    }

    /// Resets (CANCEL) each stream that, at two checks in a row, had bytes queued, sent no
    /// DATA since the check before, and found the peer's window (the stream's and the
    /// connection's, whichever is smaller) at 0: shut for at least `peerWindowTimeout`.
    /// A peer that opens its window, however slowly, keeps its stream; a socket that is
    /// merely slow leaves the window open and is not this check's business.
    func checkPeerWindows() {
        windowCheck = nil
        guard let session, !isClosed else { return }
        var waiting = false
        for stream in streams.values where !stream.isClosed && !stream.resetRequested {
            guard stream.outboundBytes > 0 else {
                stream.shutAtCheck = false
                continue
            }
            // The stream's window alone leaves out the connection's (nghttp2's own note).
            let window = min(nghttp2_session_get_stream_remote_window_size(session, stream.id),
                             nghttp2_session_get_remote_window_size(session))
            let shut = stream.framesSent == stream.framesSentAtCheck && window <= 0
            stream.framesSentAtCheck = stream.framesSent
            if shut && stream.shutAtCheck {
                stream.delegate?.streamWillResetForShutWindow(stream, queuedBytes: stream.outboundBytes)
                stream.reset(HTTP2ErrorCode.cancel)
            } else {
                stream.shutAtCheck = shut
                waiting = true
            }
        }
        if waiting { watchPeerWindows() }
    }
}
