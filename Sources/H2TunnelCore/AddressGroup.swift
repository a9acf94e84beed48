import NIOCore

/// What counts as one client for per-address limits (the relay's tunnel cap, the sign-in
/// rate limit): an IPv4 address, or an IPv6 address's /64 (RFC 6177: one host or line
/// usually holds a whole /64, so single IPv6 addresses would give 2^64 fresh limits);
/// IPv4-mapped IPv6 counts as IPv4.
public enum AddressGroup {
    public static func key(_ address: SocketAddress?) -> String {
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
