import NIOCore

/// A stopping process closes its idle tunnels at once instead of waiting out the grace
/// period for them: every browser keeps an idle keep-alive connection open, and with it
/// a tunnel that would otherwise end only when the browser gives it up.
extension HTTP2ConnectionHandler {
    /// How long a stream must carry nothing, either way, to count as idle.
    static let idleSweepInterval = TimeAmount.seconds(1)

    /// Resets (NO_ERROR, RFC 9113 §8.1: nothing more is needed from the peer) every stream
    /// that moved no DATA either way since the last sweep and holds nothing, queued or
    /// unconsumed; busy streams are left to finish. The splices turn NO_ERROR into a FIN
    /// on their sockets, so a browser sees its idle connection closed, not broken, and
    /// retries a request on a new one. A stream's first sweep only notes its count.
    func sweepIdleStreams() {
        idleSweep = nil
        guard !isClosed else { return }
        for stream in streams.values where !stream.isClosed && !stream.resetRequested {
            let idle = stream.activity == stream.activityAtSweep && stream.outboundBytes == 0 && stream.unconsumed == 0
            stream.activityAtSweep = stream.activity
            if idle { stream.reset(HTTP2ErrorCode.noError) }
        }
        idleSweep = eventLoop.scheduleTask(in: Self.idleSweepInterval) { self.sweepIdleStreams() }
    }
}
