import NIOCore
internal import CNGHTTP2

/// Streams whose readers stopped: the receive budget (`ReceiveBudget`) absorbs them, and
/// once it is spent the oldest stalls are reset so the connection window comes back.
extension HTTP2ConnectionHandler {
    /// Why `resetStalledStreams` resets a stream, for the relay's and the agent's log line.
    public var stallResetReason: String {
        "receive budget spent, nothing read for \(settings.stallTimeout.nanoseconds / 1_000_000_000) s"
    }

    /// Takes `count` received bytes into `stream`'s account and the connection's budget,
    /// giving connection window back at once while the budget allows.
    func hold(_ count: Int, for stream: HTTP2Stream) {
        if stream.unconsumed == 0 { stream.lastProgress = eventLoop.now }
        stream.unconsumed += count
        giveBackConnection(receiveBudget.received(count))
        if receiveBudget.isExceeded { watchForStalls() }
    }

    /// Looks for stalled streams every second while the budget is exceeded.
    func watchForStalls() {
        guard stallCheck == nil, !isClosed else { return }
        let interval = min(TimeAmount.seconds(1), settings.stallTimeout)
        stallCheck = eventLoop.scheduleTask(in: interval) {
            self.stallCheck = nil
            self.resetStalledStreams()
        }
    }

    /// Over budget, resets (CANCEL) streams that hold bytes and have written none onward
    /// for `stallTimeout`, longest stalled first, until what they give back brings the
    /// connection under its budget. Readers that keep reading keep their streams.
    func resetStalledStreams() {
        guard receiveBudget.isExceeded, !isClosed else { return }
        let now = eventLoop.now
        let stalled = streams.values.filter {
            !$0.isClosed && !$0.resetRequested && $0.unconsumed > 0 && now - $0.lastProgress >= settings.stallTimeout
        }.sorted { $0.lastProgress < $1.lastProgress }
        // Bytes of streams whose reset still waits in nghttp2's queue are as good as gone.
        let leaving = streams.values.reduce(0) { $0 + ($1.resetRequested && !$1.isClosed ? $1.unconsumed : 0) }
        var excess = receiveBudget.held - receiveBudget.budget - leaving
        for stream in stalled where excess > 0 {
            excess -= stream.unconsumed
            delegate?.connection(self, willResetStalledStream: stream, heldBytes: stream.unconsumed)
            stream.reset(HTTP2ErrorCode.cancel)
        }
        watchForStalls()
    }
}
