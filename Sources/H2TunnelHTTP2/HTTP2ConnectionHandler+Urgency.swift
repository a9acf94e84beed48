internal import CNGHTTP2

/// Server role: RFC 9218 urgency set by what a stream does, not by what the peer said.
///
/// Every tunnel arrives as `u=3, i`, so nghttp2 serves them round-robin, one DATA frame
/// each. A stream that becomes ready (a page's next object, a TLS handshake flight) joins
/// that round behind every stream already in it: with four bulk downloads in 64 KiB frames
/// it waited for 256 KiB, 41 ms of a 50 Mbit/s uplink, at every crossing (`Tools/bench
/// --wan`: small request p50 +91 ms under 4 downloads). As a router's fair queue does for
/// new flows (fq_codel, RFC 8290 §4.1), a stream that has sent `bulkAfter` bytes without
/// its queue running dry drops to urgency 4, and goes back to 3 as soon as its queue runs
/// dry: streams that send in short bursts then go first, and bulk streams share the rest
/// round-robin among themselves. The priority the peer signals is ignored from then on
/// (`ignore_client_signal`): the relay sends none after the request.
extension HTTP2ConnectionHandler {
    /// RFC 9218 §4.1: the default urgency, which every tunnel is opened with.
    static let interactiveUrgency: UInt32 = 3
    /// One level below: served only when no interactive stream has a frame to send.
    static let bulkUrgency: UInt32 = 4

    /// `send` counted `bytes` more for `stream`: past `bulkAfter` the stream is queued for
    /// demotion, applied once nghttp2 has returned (it must not be re-entered).
    func noteSent(_ stream: HTTP2Stream) {
        guard role == .server, let bulkAfter = settings.bulkAfter,
              !stream.isBulk, stream.sentSinceIdle >= bulkAfter else { return }
        stream.isBulk = true
        turnedBulk.append(stream)
    }

    /// Applies the demotions `noteSent` collected during the last `mem_send`.
    func applyBulkUrgency() {
        guard !turnedBulk.isEmpty else { return }
        for stream in turnedBulk where stream.isBulk && !stream.isClosed {
            setUrgency(stream, Self.bulkUrgency)
        }
        turnedBulk.removeAll(keepingCapacity: true)
    }

    /// A bulk stream whose queue ran dry is interactive again: called as it resumes, outside
    /// nghttp2, before the stream is queued again.
    func restoreUrgency(_ stream: HTTP2Stream) {
        guard stream.isBulk else { return }
        stream.isBulk = false
        setUrgency(stream, Self.interactiveUrgency)
    }

    private func setUrgency(_ stream: HTTP2Stream, _ urgency: UInt32) {
        guard let session else { return }
        var priority = nghttp2_extpri(urgency: urgency, inc: 1)
        _ = nghttp2_session_change_extpri_stream_priority(session, stream.id, &priority, 1)
    }
}
