internal import CNGHTTP2

/// Window given back every quarter window, not nghttp2's every half.
///
/// With no automatic WINDOW_UPDATE, `nghttp2_session_consume` sends one once half of a
/// window was written onward, so a sender holds between a half and a whole window in
/// flight: on a long path a stream moves about half its window per round trip (8 MiB at
/// 80 ms: 52 MB/s of a 1 Gbit/s link). Giving the window back every quarter lets it keep
/// three quarters to a whole window in flight, for the same memory bound: the window
/// sizes, not the update points, bound what a peer can make us hold (RFC 9113 §6.9).
/// nghttp2's own count is kept by `nghttp2_session_consume_*` below a quarter, and
/// `nghttp2_submit_window_update` then returns everything consumed since the last update
/// (never more than was received since, so no window grows here).
extension HTTP2ConnectionHandler {
    /// `count` bytes of `stream` written onward.
    func giveBack(_ count: Int, of stream: HTTP2Stream) {
        guard let session, count > 0 else { return }
        let pending = stream.consumedSinceUpdate + count
        guard pending >= stream.receiveWindow / 4 else {
            _ = nghttp2_session_consume_stream(session, stream.id, count)
            stream.consumedSinceUpdate = pending
            return
        }
        let received = Int(nghttp2_session_get_stream_effective_recv_data_length(session, stream.id))
        let increment = min(pending, received, Int(Int32.max))
        if increment > 0 { _ = nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, Int32(increment)) }
        stream.consumedSinceUpdate = 0
    }

    /// `count` bytes of connection window credited (`ReceiveBudget`, closed streams).
    func giveBackConnection(_ count: Int) {
        guard let session, count > 0 else { return }
        let pending = connectionConsumedSinceUpdate + count
        guard pending >= settings.connectionWindow / 4 else {
            _ = nghttp2_session_consume_connection(session, count)
            connectionConsumedSinceUpdate = pending
            return
        }
        let received = Int(nghttp2_session_get_effective_recv_data_length(session))
        let increment = min(pending, received, Int(Int32.max))
        if increment > 0 { _ = nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(increment)) }
        connectionConsumedSinceUpdate = 0
    }
}
