import H2TunnelStore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The store's tenant ids, kept in memory so that routing a browser never waits on SQLite:
/// with a store, an id not in it is refused as `unknown-tenant` and a known one without an
/// agent as `tenant-offline`. `relay tenant add|remove` edits the file from another
/// process, so the copy is read again every `refreshInterval`; an id missing from it is
/// checked against a fresh read before a browser is refused.
///
/// Reads never overlap: misses that arrive while a read runs wait for the next one (which
/// starts when it ends and saw every change made before they came), so a flood of made-up
/// names costs the store one read at a time, not one per browser.
final class TenantCatalog: Sendable {
    static let refreshInterval = TimeAmount.seconds(3)

    private let store: any RelayStore
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var ids: Set<String> = []
        var reading = false
        /// Misses waiting for the read that runs now, and for the one after it.
        var current: [EventLoopPromise<Void>] = []
        var next: [EventLoopPromise<Void>] = []
        var timer: RepeatedTask?
        var failing = false
        /// After `stop()` the store closes: a read failing then is not news.
        var stopped = false
    }

    init(store: any RelayStore, eventLoop: any EventLoop, logger: Logger) {
        self.store = store
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// The first read (a store that cannot answer fails the relay's start), then a read
    /// every `refreshInterval` until `stop()`.
    func start() async throws {
        let ids = try await store.tenantIDs()
        let timer = eventLoop.scheduleRepeatedTask(initialDelay: Self.refreshInterval, delay: Self.refreshInterval) { _ in
            self.read(joining: nil)
        }
        state.withLockedValue {
            $0.ids = ids
            $0.timer = timer
        }
    }

    func stop() {
        state.withLockedValue { state in
            state.stopped = true
            return state.timer
        }?.cancel()
    }

    /// In the copy: no store read.
    func contains(_ id: String) -> Bool {
        state.withLockedValue { $0.ids.contains(id) }
    }

    /// Whether `id` is in a read of the store that began after this call; fails when the
    /// store does not answer.
    func recheck(_ id: String, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        let promise = loop.makePromise(of: Void.self)
        read(joining: promise)
        return promise.futureResult.map { self.contains(id) }
    }

    private func read(joining promise: EventLoopPromise<Void>?) {
        let begin = state.withLockedValue { state -> Bool in
            if let promise { state.next.append(promise) }
            guard !state.reading else { return false }
            state.reading = true
            state.current = state.next
            state.next = []
            return true
        }
        guard begin else { return }
        eventLoop.makeFutureWithTask { [store] in try await store.tenantIDs() }.whenComplete { result in
            let (waiting, again, recovered, failed) = self.state.withLockedValue { state in
                let wasFailing = state.failing
                if case .success(let ids) = result { state.ids = ids }
                state.failing = (try? result.get()) == nil
                let waiting = state.current
                state.current = []
                state.reading = false
                return (waiting, !state.next.isEmpty, wasFailing && !state.failing,
                        !wasFailing && state.failing && !state.stopped)
            }
            switch result {
            case .success:
                if recovered { self.logger.info("tenant store answers again") }
                for promise in waiting { promise.succeed() }
            case .failure(let error):
                if failed {
                    self.logger.warning("tenant store does not answer: routing by live agents only",
                                        metadata: ["error": "\(error)"])
                }
                for promise in waiting { promise.fail(error) }
            }
            if again { self.read(joining: nil) }
        }
    }
}
