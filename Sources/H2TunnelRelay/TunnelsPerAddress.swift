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

    /// Counts a tunnel for `channel`'s peer and uncounts it when the channel closes; false,
    /// counting nothing, when that address already holds `limit` tunnels.
    func admit(_ channel: Channel) -> Bool {
        guard limit > 0 else { return true }
        let key = Self.key(channel.remoteAddress)
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

    /// An IPv4 address, or an IPv6 address's /64 (RFC 6177: one host or line usually holds a
    /// whole /64, so single IPv6 addresses would give 2^64 fresh caps); IPv4-mapped IPv6
    /// counts as IPv4. The same rule as the sign-in rate limit's.
    static func key(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        switch address {
        case .v4:
            return address.ipAddress ?? "unknown"
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            guard bytes.count == 16 else { return address.ipAddress ?? "unknown" }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return bytes[12..<16].map(String.init).joined(separator: ".")
            }
            return stride(from: 0, to: 8, by: 2)
                .map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":") + "::/64"
        case .unixDomainSocket:
            return "unix"
        }
    }
}
