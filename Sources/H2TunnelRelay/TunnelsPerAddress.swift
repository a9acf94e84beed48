import H2TunnelCore
import NIOConcurrencyHelpers
import NIOCore

/// Open tunnels per browser address (`--max-tunnels-per-address`): one host must not take
/// a tenant's whole `MAX_CONCURRENT_STREAMS` or the agent's memory with handshakes it never
/// finishes. Counted up when a tunnel is routed, down when its socket closes, so a count
/// cannot outlive its connection.
final class TunnelsPerAddress: Sendable {
    private let limit: Int
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    /// `limit` 0: no cap (nothing is counted).
    init(limit: Int) { self.limit = limit }

    /// Counts a tunnel for `address` (the peer, or the client a trusted balancer named) and
    /// uncounts it when `channel` closes; false, counting nothing, when that address already
    /// holds `limit` tunnels.
    func admit(_ channel: Channel, address: SocketAddress?) -> Bool {
        guard limit > 0 else { return true }
        let key = AddressGroup.key(address)
        let admitted = counts.withLockedValue { counts in
            let open = counts[key, default: 0]
            guard open < limit else { return false }
            counts[key] = open + 1
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { _ in
            self.counts.withLockedValue { counts in
                let open = counts[key, default: 1] - 1
                counts[key] = open > 0 ? open : nil
            }
        }
        return true
    }
}
