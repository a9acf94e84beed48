import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Finds the agent connection for a tenant. Today's in-process implementation of the
/// seam a relay fleet will implement over a shared store (docs/roadmap.md "Relay fleet").
public protocol AgentDirectory: Sendable {
    /// The newest healthy connection of `tenant`, or nil when it is offline here.
    func connection(forTenant tenant: String) -> AgentLink?
}

/// The agent connections of this relay process, by tenant, newest last.
public final class AgentRegistry: AgentDirectory {
    private struct Waiter {
        let id: Int
        let promise: EventLoopPromise<AgentLink?>
    }
    private struct State {
        var links: [String: [AgentLink]] = [:]
        /// Tenants whose spent connection is being replaced (GOAWAY sent), until when.
        var replacing: [String: NIODeadline] = [:]
        /// Browsers waiting for such a tenant's new connection.
        var waiters: [String: [Waiter]] = [:]
        var nextWaiter = 0
        /// When each tenant's last connection closed (one entry per tenant ever seen).
        var lastClosed: [String: Date] = [:]

        /// New streams go to the newest connection that is not draining.
        func newest(of tenant: String) -> AgentLink? {
            links[tenant]?.last(where: { $0.isHealthy })
        }
    }
    private let state = NIOLockedValueBox(State())
    private let nextID = NIOLockedValueBox<Int>(0)

    /// How long browsers wait for a replaced connection's successor: the agent dials at
    /// once, so a round trip and a TLS handshake, with room for a slow WAN.
    static let replacementWait = TimeAmount.seconds(3)

    public init() {}

    func makeID() -> Int {
        nextID.withLockedValue { $0 += 1; return $0 }
    }

    func add(_ link: AgentLink) {
        let waiting = state.withLockedValue { state -> [Waiter] in
            state.links[link.tenant, default: []].append(link)
            state.replacing[link.tenant] = nil
            return state.waiters.removeValue(forKey: link.tenant) ?? []
        }
        for waiter in waiting { waiter.promise.succeed(link) }
    }

    /// `link` was drained because it is spent: its tenant's browsers may wait a moment
    /// for the agent's new connection instead of being refused as offline.
    func expectReplacement(of link: AgentLink) {
        state.withLockedValue { $0.replacing[link.tenant] = .now() + Self.replacementWait }
    }

    /// The tenant's newest healthy connection; while a spent one is being replaced, the
    /// new one once it is up (on `loop`); nil when the tenant is offline.
    func connection(forTenant tenant: String, waitingOn loop: EventLoop) -> EventLoopFuture<AgentLink?> {
        let now = NIODeadline.now()
        let (link, waiter, deadline) = state.withLockedValue { state -> (AgentLink?, Waiter?, NIODeadline) in
            if let link = state.newest(of: tenant) { return (link, nil, now) }
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
                state.lastClosed[link.tenant] = Date()
            }
        }
    }

    /// When `tenant`'s last connection closed; nil when it has one now or never had one.
    func lastClosed(tenant: String) -> Date? {
        state.withLockedValue { $0.links[tenant] == nil ? $0.lastClosed[tenant] : nil }
    }

    /// Several connections per tenant are allowed (HA, draining); new streams go to the
    /// newest one that is not draining.
    public func connection(forTenant tenant: String) -> AgentLink? {
        state.withLockedValue { $0.newest(of: tenant) }
    }

    public var all: [AgentLink] {
        state.withLockedValue { $0.links.values.flatMap { $0 } }.sorted { $0.id < $1.id }
    }
}
