import Foundation
import H2TunnelRelayWeb

/// The relay site's view of the registry: a company is online while its agent has a
/// healthy connection here, and was last seen when its last connection closed.
extension AgentRegistry: TenantPresence {
    public func isOnline(_ tenant: String) -> Bool {
        isServing(tenant)
    }

    public func lastSeen(_ tenant: String) -> Date? {
        lastClosed(tenant: tenant)
    }
}
