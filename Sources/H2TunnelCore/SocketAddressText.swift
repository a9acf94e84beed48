import NIOCore

/// Parsing and printing of `HOST:PORT` as used on the command line and in logs.
public enum HostPort {
    public struct ParseError: Error, CustomStringConvertible {
        public var text: String
        public var description: String { "expected HOST:PORT, got '\(text)'" }
    }

    /// Splits `host:port`, `[v6]:port`; the port must be 0...65535.
    public static func parse(_ text: String) throws -> (host: String, port: Int) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ParseError(text: text) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ParseError(text: text) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ParseError(text: text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { throw ParseError(text: text) }
        return (String(host), port)
    }

    /// `host:port`, an IPv6 literal in brackets (`[::1]:9091`): what `parse` reads back.
    public static func join(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `1.2.3.4:5` or `[::1]:5`: the form RFC 7239 §6 wants quoted in `forwarded: for=`.
    ///
    /// An IPv4 address is printed from its four bytes (`ipv4`): the relay describes every
    /// browser once, and NIO's `ipAddress` (inet_ntop into a buffer, then a String) cost
    /// ~1,800 instructions of a connection's, string interpolation of the five numbers
    /// ~1,600 (callgrind).
    public static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        if case .v4(let v4) = address {
            return ipv4(UInt32(bigEndian: v4.address.sin_addr.s_addr), port: UInt16(bigEndian: v4.address.sin_port))
        }
        let ip = address.ipAddress ?? "unknown"
        let port = address.port ?? 0
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    /// `a.b.c.d:port`, written digit by digit into the string's own storage.
    static func ipv4(_ ip: UInt32, port: UInt16) -> String {
        String(unsafeUninitializedCapacity: 21) { out in
            var count = 0
            func put(_ value: UInt32) {
                if value >= 10000 { out[count] = UInt8(ascii: "0") + UInt8(value / 10000); count += 1 }
                if value >= 1000 { out[count] = UInt8(ascii: "0") + UInt8(value / 1000 % 10); count += 1 }
                if value >= 100 { out[count] = UInt8(ascii: "0") + UInt8(value / 100 % 10); count += 1 }
                if value >= 10 { out[count] = UInt8(ascii: "0") + UInt8(value / 10 % 10); count += 1 }
                out[count] = UInt8(ascii: "0") + UInt8(value % 10)
                count += 1
            }
            func mark(_ ascii: Unicode.Scalar) {
                out[count] = UInt8(ascii: ascii)
                count += 1
            }
            put(ip >> 24)
            mark(".")
            put(ip >> 16 & 0xFF)
            mark(".")
            put(ip >> 8 & 0xFF)
            mark(".")
            put(ip & 0xFF)
            mark(":")
            put(UInt32(port))
            return count
        }
    }
}
