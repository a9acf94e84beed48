import Foundation

/// Where to connect and how to trust it; shared by every h2probe mode.
public struct ProbeOptions: Sendable {
    public var cacert: String?
    /// Our client certificate chain and key (PEM), for endpoints that require mTLS such
    /// as the relay's agent endpoint.
    public var certificate: String?
    public var key: String?
    public var insecure = false
    /// `HOST:PORT:ADDR` entries, as curl's --resolve.
    public var resolve: [String] = []
    public var timeout: Double = 10
    public var output: ProbeOutput.Mode = .text
    public var verbose = false

    public init() {}

    /// The address to dial for `host:port`, honouring --resolve; names under `.localhost`
    /// are loopback without asking DNS (RFC 6761 §6.3), as curl and Chromium do, so
    /// `acme.tunnel.localhost` needs no --resolve (127.0.0.1 first, then ::1).
    func address(host: String, port: Int) -> String {
        for entry in resolve {
            let parts = entry.split(separator: ":", maxSplits: 2).map(String.init)
            if parts.count == 3, parts[0].lowercased() == host.lowercased(), Int(parts[1]) == port {
                return parts[2].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            }
        }
        return Self.isLocalhostName(host) ? "127.0.0.1" : host
    }

    /// The SNI and verified name for `host`: a fully qualified `name.` is sent as `name`
    /// (RFC 6066 §3: no trailing dot in HostName), as curl does.
    static func serverName(_ host: String) -> String {
        host.hasSuffix(".") ? String(host.dropLast()) : host
    }

    /// `localhost` itself or any name under it, ignoring case and a trailing dot.
    static func isLocalhostName(_ host: String) -> Bool {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name == "localhost" || name.hasSuffix(".localhost")
    }
}

/// An `https://` or `http://` (h2c, prior knowledge) URL.
public struct ProbeTarget: Sendable {
    public var secure: Bool
    public var host: String
    public var port: Int
    public var path: String

    public init(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host,
              scheme == "https" || scheme == "http" else {
            throw ProbeError(.connect, "not an http:// or https:// URL: \(text)")
        }
        secure = scheme == "https"
        self.host = host
        port = url.port ?? (secure ? 443 : 80)
        var path = url.path.isEmpty ? "/" : url.path
        if let query = url.query { path += "?" + query }
        self.path = path
    }

    var authority: String { (secure && port == 443) || (!secure && port == 80) ? host : "\(host):\(port)" }
}
