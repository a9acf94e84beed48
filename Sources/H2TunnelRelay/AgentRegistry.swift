import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Finds the agent connection for a tenant. Today's in-process implementation of the
/// seam a relay fleet will implement over a shared store (docs/roadmap.md "Relay fleet").
public protocol AgentDirectory: Sendable {
    /// The healthy connection of `tenant` the next tunnel should take, or nil when it is
    /// offline here.
    func connection(forTenant tenant: String) -> AgentLink?
}

/// The agent connections of this relay process, by tenant, oldest first: every connection
/// admitted after its TLS handshake, until it closes.
public final class AgentRegistry: AgentDirectory {
    private struct Waiter {
        let id: Int
        let promise: EventLoopPromise<AgentLink?>
    }
    private struct State {
        var links: [String: [AgentLink]] = [:]
        /// Where each tenant's next pick starts, so ties rotate (round-robin).
        var cursor: [String: Int] = [:]
        /// Tenants whose spent connection is being replaced (GOAWAY sent), until when.
        var replacing: [String: NIODeadline] = [:]
        /// Browsers waiting for such a tenant's new connection.
        var waiters: [String: [Waiter]] = [:]
        var nextWaiter = 0
        /// When each tenant's last connection closed (one entry per tenant ever seen).
        var lastClosed: [String: Date] = [:]
        /// Certificate fingerprints refused at the handshake and cut off when live.
        var denied: Set<String> = []

        /// New tunnels go to the healthy (ready, not draining) connection with the fewest
        /// open streams; ties are broken round-robin. Fewest streams, not plain rotation:
        /// a connection carrying long downloads should not get every third page load too,
        /// and a connection that just came up (an agent's second instance, a replacement)
        /// takes the next tunnels at once. Rotation on ties spreads short requests, whose
        /// stream counts are mostly 0, over every connection.
        mutating func pick(of tenant: String) -> AgentLink? {
            guard let healthy = links[tenant]?.filter(\.isHealthy), !healthy.isEmpty else { return nil }
            let start = cursor[tenant, default: 0] % healthy.count
            cursor[tenant] = start + 1
            var best = healthy[start]
            var fewest = best.openStreams
            for offset in 1..<healthy.count {
                let candidate = healthy[(start + offset) % healthy.count]
                let streams = candidate.openStreams
                if streams < fewest { (best, fewest) = (candidate, streams) }
            }
            return best
        }
    }
    private let state: NIOLockedValueBox<State>
    private let nextID = NIOLockedValueBox<Int>(0)
    /// Connections of one tenant that are up or coming up (not draining) at most: a stray
    /// or leaked certificate cannot pile up connections (each holds buffers and a loop's time).
    public let maxConnectionsPerTenant: Int

    /// How long browsers wait for a replaced connection's successor: the agent dials at
    /// once, so a round trip and a TLS handshake, with room for a slow WAN.
    static let replacementWait = TimeAmount.seconds(3)

    public init(maxConnectionsPerTenant: Int = 4, denied: Set<String> = []) {
        self.maxConnectionsPerTenant = maxConnectionsPerTenant
        state = NIOLockedValueBox(State(denied: denied))
    }

    func makeID() -> Int {
        nextID.withLockedValue { $0 += 1; return $0 }
    }

    func isDenied(_ fingerprint: String) -> Bool {
        state.withLockedValue { $0.denied.contains(fingerprint) }
    }

    /// Replaces the deny list and cuts off the live connections it now names (closed at
    /// once, their tunnels reset); returns how many.
    @discardableResult
    public func deny(_ fingerprints: Set<String>) -> Int {
        let cut = state.withLockedValue { state in
            state.denied = fingerprints
            return state.links.values.flatMap { $0 }.filter { fingerprints.contains($0.fingerprint) }
        }
        for link in cut { link.cutOff() }
        return cut.count
    }

    /// A tenant's connections are at `maxConnectionsPerTenant`.
    struct Full: Error {
        let count: Int
    }

    /// Admits a connection of `tenant` that finished its TLS handshake, before its HTTP/2
    /// is up: makes its link (only then, so a refused one leaves nothing to close), unless
    /// the tenant is at `maxConnectionsPerTenant`. Draining connections do not count: they
    /// are on their way out (a spent connection's replacement must get in).
    func admit(tenant: String, _ make: () -> AgentLink) -> Result<AgentLink, Full> {
        state.withLockedValue { state in
            let count = state.links[tenant, default: []].filter { !$0.isDraining }.count
            guard count < maxConnectionsPerTenant else { return .failure(Full(count: count)) }
            let link = make()
            state.links[tenant, default: []].append(link)
            return .success(link)
        }
    }

    /// `link` is ready for tunnels: browsers waiting for its tenant take it. Returns the
    /// tenant's other live connections whose certificate is not `link`'s.
    func add(_ link: AgentLink) -> [AgentLink] {
        let (waiting, others) = state.withLockedValue { state -> ([Waiter], [AgentLink]) in
            state.replacing[link.tenant] = nil
            let others = (state.links[link.tenant] ?? []).filter { $0 !== link && $0.fingerprint != link.fingerprint }
            return (state.waiters.removeValue(forKey: link.tenant) ?? [], others)
        }
        for waiter in waiting { waiter.promise.succeed(link) }
        return others
    }

    /// `link` was drained because it is spent: its tenant's browsers may wait a moment
    /// for the agent's new connection instead of being refused as offline.
    func expectReplacement(of link: AgentLink) {
        state.withLockedValue { $0.replacing[link.tenant] = .now() + Self.replacementWait }
    }

    /// The tenant's next healthy connection (`State.pick`); while a spent one is being
    /// replaced, the new one once it is up (on `loop`); nil when the tenant is offline.
    func connection(forTenant tenant: String, waitingOn loop: EventLoop) -> EventLoopFuture<AgentLink?> {
        let now = NIODeadline.now()
        let (link, waiter, deadline) = state.withLockedValue { state -> (AgentLink?, Waiter?, NIODeadline) in
            if let link = state.pick(of: tenant) { return (link, nil, now) }
            guard let until = state.replacing[tenant], until > now else { return (nil, nil, now) }
            state.nextWaiter += 1
            let waiter = Waiter(id: state.nextWaiter, promise: loop.makePromise())
            state.waiters[tenant, default: []].append(waiter)
            return (nil, waiter, until)
        }
        guard let waiter else { return loop.makeSucceededFuture(link) }
        loop.scheduleTask(deadline: deadline) {
            let expired = self.state.withLockedValue { state -> Bool in
                guard let index = state.waiters[tenant]?.firstIndex(where: { $0.id == waiter.id }) else { return false }
                state.waiters[tenant]!.remove(at: index)
                return true
            }
            if expired { waiter.promise.succeed(nil) }
        }
        return waiter.promise.futureResult
    }

    func remove(_ link: AgentLink) {
        state.withLockedValue { state in
            state.links[link.tenant]?.removeAll { $0 === link }
            if state.links[link.tenant]?.isEmpty == true {
                state.links[link.tenant] = nil
                state.cursor[link.tenant] = nil
                state.lastClosed[link.tenant] = Date()
            }
        }
    }

    /// When `tenant`'s last connection closed; nil when it has a ready one now or never had
    /// one (a connection still coming up does not count yet).
    func lastClosed(tenant: String) -> Date? {
        state.withLockedValue { state in
            state.links[tenant]?.contains(where: \.isReady) == true ? nil : state.lastClosed[tenant]
        }
    }

    /// Whether `tenant` has a connection that takes tunnels now.
    func isServing(_ tenant: String) -> Bool {
        state.withLockedValue { $0.links[tenant]?.contains(where: \.isHealthy) ?? false }
    }

    /// Several connections per tenant are allowed (HA, draining, a second agent
    /// instance); new tunnels are spread over the healthy ones (`State.pick`).
    public func connection(forTenant tenant: String) -> AgentLink? {
        state.withLockedValue { $0.pick(of: tenant) }
    }

    /// Every admitted connection, ready or not (shutdown drains them all), by id.
    public var all: [AgentLink] {
        state.withLockedValue { $0.links.values.flatMap { $0 } }.sorted { $0.id < $1.id }
    }
}
