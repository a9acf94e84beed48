import Foundation

/// What the relay's site needs from the live agent registry: whether a tenant's agent is
/// connected now, and when it last was.
public protocol TenantPresence: Sendable {
    func isOnline(_ tenant: String) -> Bool
    /// When the tenant's last agent connection closed (nil: never seen, or online now).
    func lastSeen(_ tenant: String) -> Date?
}
