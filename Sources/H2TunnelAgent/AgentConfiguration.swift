import H2TunnelHTTP2
import NIOCore

/// Where the agent sends a browser's connection: the upstream URL's scheme decides.
public enum Upstream: Sendable, Equatable {
    /// Terminate the browser's TLS with the tenant certificate, forward plaintext.
    case tcp(host: String, port: Int)
    /// Pass the browser's TLS through: the app is the HTTPS server.
    case tls(host: String, port: Int)
    /// Terminate the browser's TLS and HTTP here: sign-in tickets, sessions, and a reverse
    /// proxy to the app over HTTP/1.1 (`HTTPFront`).
    case http(host: String, port: Int)

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `tcp://host:port`, `tls://host:port` or `http://host:port`.
    public static func parse(_ url: String) throws -> Upstream {
        let parts = url.split(separator: "://", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ParseError(description: "upstream must look like tcp://host:port, got '\(url)'") }
        let hostPort = parts[1].hasSuffix("/") ? String(parts[1].dropLast()) : parts[1]
        let colon = hostPort.lastIndex(of: ":")
        guard let colon, let port = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(port) else {
            throw ParseError(description: "upstream needs a port: '\(url)'")
        }
        var host = String(hostPort[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch parts[0] {
        case "tcp": return .tcp(host: host, port: port)
        case "tls": return .tls(host: host, port: port)
        case "http": return .http(host: host, port: port)
        default: throw ParseError(description: "upstream scheme must be tcp, tls or http, got '\(parts[0])'")
        }
    }

    var host: String { switch self { case .tcp(let h, _), .tls(let h, _), .http(let h, _): h } }
    var port: Int { switch self { case .tcp(_, let p), .tls(_, let p), .http(_, let p): p } }
    /// Whether the agent holds the tenant key (it terminates the browser's TLS).
    public var terminatesTLS: Bool { if case .tls = self { false } else { true } }
}

/// Everything `agent run` is told. Every field is a flag and a config-file key (README).
public struct AgentConfiguration: Sendable {
    public var relayHost: String
    public var relayPort: Int
    /// SNI sent to the relay and the name its certificate must carry.
    public var relayHostname: String
    public var relayCAPath: String
    /// The agent's client identity (its URI SAN names the tenant).
    public var certificatePath: String
    public var privateKeyPath: String
    /// What browsers see: the tenant's own certificate and key, which never leave here.
    /// Both are needed only where the agent terminates TLS (tcp://, http://); with tls://
    /// the certificate alone (or `tenantNames`) says which names the 421 check accepts.
    public var tenantCertificatePath: String?
    public var tenantKeyPath: String?
    /// Names served (`--tenant-name`), on top of the certificate's DNS names.
    public var tenantNames: [String] = []
    public var upstream: Upstream
    /// http:// mode: the relay's Ed25519 ticket key (SPKI PEM) and its site's URL, where a
    /// browser without a session is sent to sign in.
    public var relayPublicKeyPath: String?
    public var relayURL: String?
    /// http:// mode: how long a session cookie lives, in seconds.
    public var sessionLifetime: Double = 28_800
    /// Reconnect delays: full jitter in 0…min(max, base·2ⁿ).
    public var reconnectBase: Double = 0.5
    public var reconnectMax: Double = 30
    public var gracePeriod: TimeAmount = .seconds(30)
    public var upstreamConnectTimeout: TimeAmount = .seconds(5)
    /// Seconds of silence before an app socket is probed (`SocketTuning.keepAlive`); 0: never.
    public var tcpKeepAlive = 60
    /// How long the app may take none of a tunnel's upload before the tunnel is reset
    /// (`SpliceChannelHandler`); nil: never.
    public var sendTimeout: TimeAmount? = .seconds(60)
    /// tcp:// and http:// modes: a browser whose TLS handshake inside its tunnel has not
    /// finished by then has the tunnel reset (one that sends a ClientHello and then nothing
    /// would otherwise hold a stream and the agent's TLS state for good).
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Pace the relay connection just below the rate the uplink delivers (`LinkPacer`).
    public var uplinkPacing = true
    /// A tunnel that carries nothing either way this long is reset (`StreamSplice.idleTimeout`); nil: never.
    public var idleTimeout: TimeAmount? = .seconds(300)
    /// Loopback admin listener (`/healthz`, `/readyz`, `/metrics`, `/status`); nil turns it off.
    public var adminHost: String? = nil
    public var adminPort: Int = 0
    public var http2: HTTP2Settings = {
        var settings = HTTP2Settings()
        settings.enableConnectProtocol = true
        // The relay resets a tunnel for each browser that aborts. nghttp2's Rapid Reset
        // limit took a busy tenant's whole connection down after ~1,000 of them; the
        // relay already bounds the streams it may open (MAX_CONCURRENT_STREAMS).
        settings.limitsPeerResets = false
        return settings
    }()

    public init(relayHost: String, relayPort: Int, relayHostname: String, relayCAPath: String,
                certificatePath: String, privateKeyPath: String, tenantCertificatePath: String?,
                tenantKeyPath: String?, upstream: Upstream) {
        self.relayHost = relayHost
        self.relayPort = relayPort
        self.relayHostname = relayHostname
        self.relayCAPath = relayCAPath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.tenantCertificatePath = tenantCertificatePath
        self.tenantKeyPath = tenantKeyPath
        self.upstream = upstream
    }
}
