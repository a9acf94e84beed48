import NIOConcurrencyHelpers
import NIOCore

/// Finds the agent connection for a tenant. Today's in-process implementation of the
/// seam a relay fleet will implement over a shared store (ROADMAP "Relay fleet").
public protocol AgentDirectory: Sendable {
    /// The newest healthy connection of `tenant`, or nil when it is offline here.
    func connection(forTenant tenant: String) -> AgentLink?
}

/// The agent connections of this relay process, by tenant, newest last.
public final class AgentRegistry: AgentDirectory {
    private let links = NIOLockedValueBox<[String: [AgentLink]]>([:])
    private let nextID = NIOLockedValueBox<Int>(0)

    public init() {}

    func makeID() -> Int {
        nextID.withLockedValue { $0 += 1; return $0 }
    }

    func add(_ link: AgentLink) {
        links.withLockedValue { $0[link.tenant, default: []].append(link) }
    }

    func remove(_ link: AgentLink) {
        links.withLockedValue { all in
            all[link.tenant]?.removeAll { $0 === link }
            if all[link.tenant]?.isEmpty == true { all[link.tenant] = nil }
        }
    }

    /// Several connections per tenant are allowed (HA, draining); new streams go to the
    /// newest one that is not draining.
    public func connection(forTenant tenant: String) -> AgentLink? {
        links.withLockedValue { $0[tenant]?.last(where: { $0.isHealthy }) }
    }

    public var all: [AgentLink] {
        links.withLockedValue { $0.values.flatMap { $0 } }.sorted { $0.id < $1.id }
    }
}
