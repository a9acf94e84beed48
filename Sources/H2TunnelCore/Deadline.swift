import NIOConcurrencyHelpers
import NIOCore

/// Waits for `future`, but no longer than `limit`.
public func firstOf(_ future: EventLoopFuture<Void>, orAfter limit: TimeAmount) async {
    let promise = future.eventLoop.makePromise(of: Void.self)
    let done = NIOLockedValueBox(false)
    let finish: @Sendable () -> Void = {
        if done.withLockedValue({ was in defer { was = true }; return !was }) { promise.succeed(()) }
    }
    future.whenComplete { _ in finish() }
    let timer = future.eventLoop.scheduleTask(in: limit) { finish() }
    try? await promise.futureResult.get()
    timer.cancel()
}
