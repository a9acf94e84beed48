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
    public static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        let ip = address.ipAddress ?? "unknown"
        let port = address.port ?? 0
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}
