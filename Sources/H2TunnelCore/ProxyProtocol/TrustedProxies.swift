import NIOCore

/// The source networks allowed (and required) to open connections with a PROXY protocol
/// header (`--proxy-protocol-from`): the load balancers in front of the relay.
public struct TrustedProxies: Sendable, Equatable {
    public struct ParseError: Error, CustomStringConvertible {
        public var text: String
        public var why: String
        public var description: String {
            "--proxy-protocol-from: '\(text)' is not an address or CIDR network (\(why))"
        }
    }

    /// One network: its address bytes (4 or 16) and prefix length.
    struct Network: Sendable, Equatable {
        var bytes: [UInt8]
        var prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for i in 0..<bytes.count where left > 0 {
                let bits = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[i] & mask != bytes[i] & mask { return false }
                left -= bits
            }
            return true
        }
    }

    let networks: [Network]

    /// Empty: no source is trusted, and PROXY protocol is off.
    public var isEmpty: Bool { networks.isEmpty }

    /// `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`, `::1` (a bare address is /32 or /128).
    public init(_ texts: [String]) throws {
        networks = try texts.map { raw in
            let text = raw.trimmingWhitespace()
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = try? SocketAddress(ipAddress: String(parts[0]), port: 0),
                  let bytes = Self.bytes(of: address) else {
                throw ParseError(text: raw, why: "bad address")
            }
            let width = bytes.count * 8
            var prefix = width
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...width).contains(value), parts[1].allSatisfy(\.isNumber) else {
                    throw ParseError(text: raw, why: "prefix must be 0...\(width)")
                }
                prefix = value
            }
            return Network(bytes: bytes, prefix: prefix)
        }
    }

    /// Whether `address` (the TCP peer) is in one of the networks; an IPv4-mapped IPv6
    /// peer (a dual-stack listener) counts as its IPv4 address.
    public func contains(_ address: SocketAddress?) -> Bool {
        guard !networks.isEmpty, let address, let bytes = Self.bytes(of: address) else { return false }
        let unmapped = Self.unmapped(bytes)
        return networks.contains { $0.contains(bytes) || (unmapped.map($0.contains) ?? false) }
    }

    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4): withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket: nil
        }
    }

    /// The IPv4 address inside `::ffff:a.b.c.d`.
    static func unmapped(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
        return Array(bytes[12..<16])
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
