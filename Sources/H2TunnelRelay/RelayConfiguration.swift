import H2TunnelCore
import NIOCore
import H2TunnelHTTP2

/// Everything `relay run` is told. Every field is a flag and a config-file key (README).
public struct RelayConfiguration: Sendable {
    /// The public TLS port browsers and agents connect to.
    public var listenHost: String
    public var listenPort: Int
    /// The relay's own name: TLS is terminated here for it.
    public var hostname: String
    public var certificatePath: String
    public var privateKeyPath: String
    /// The agent endpoint name: mTLS, ALPN h2, the relay becomes the HTTP/2 client.
    public var agentHostname: String
    /// The CA that signs agent client certificates.
    public var agentCAPath: String
    /// Tenants are `<id>.<tenantDomain>`.
    public var tenantDomain: String
    /// Plain-HTTP admin listener (`/healthz`, `/readyz`, `/metrics`, `/agents`); nil turns it off.
    public var adminHost: String?
    public var adminPort: Int
    /// A browser that has not sent a whole ClientHello by then is closed.
    public var clientHelloTimeout: TimeAmount = .seconds(10)
    /// Seconds of silence before a browser's socket is probed (`SocketTuning.keepAlive`); 0: never.
    public var tcpKeepAlive = 60
    /// How long a browser may take none of its tunnel's output before the tunnel is reset
    /// (`SpliceChannelHandler`); nil: never.
    public var sendTimeout: TimeAmount? = .seconds(60)
    /// Tunnels one browser address (an IPv6 /64 as one) may hold open at once; 0: no cap.
    /// High by default: a whole office sits behind one NAT address, and an HTTP/1.1
    /// browser holds up to six connections per host; the handshake deadline already bounds
    /// what a silent connection can hold.
    public var maxTunnelsPerAddress = 2048
    /// How long a shutdown waits for open tunnels.
    public var gracePeriod: TimeAmount = .seconds(30)
    /// The agent connections' HTTP/2 settings (windows, PING liveness).
    public var http2 = HTTP2Settings()
    /// The SQLite store (users, tenants, grants); nil: no sign-in, and every tenant with
    /// a live agent is served.
    public var storePath: String?
    /// Ed25519 private key (PKCS#8 PEM) that signs sign-in tickets; needed with a store.
    public var signingKeyPath: String?
    /// The port browsers use in URLs the site makes (tenant links); nil: the port the
    /// browser connected to (right unless a load balancer maps ports).
    public var publicPort: Int?
    /// Agent connections of one tenant, up or coming up, at most; a further one is closed
    /// after its TLS handshake.
    public var maxAgentConnectionsPerTenant = 4
    /// Agent certificates refused at the handshake (`--agent-deny-fingerprint`, `--agent-deny-file`).
    public var agentDenyList = AgentDenyList()
    /// `agentDenyList` as read at start; SIGHUP reads the file again (`AgentDenyList.reloadOnHangup`).
    public var agentDenied: Set<String> = []
    /// Source networks (CIDR, raw `--proxy-protocol-from` text) whose connections to the
    /// public listener must start with a PROXY protocol header; empty: PROXY protocol off.
    public var proxyProtocolFrom: [String] = []
    /// This instance's name, sent to agents on every stream (`RelayInstanceName`).
    public var instanceName = RelayInstanceName.local

    public init(listenHost: String, listenPort: Int, hostname: String, certificatePath: String,
                privateKeyPath: String, agentHostname: String, agentCAPath: String, tenantDomain: String,
                adminHost: String?, adminPort: Int) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.hostname = hostname
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.agentHostname = agentHostname
        self.agentCAPath = agentCAPath
        self.tenantDomain = tenantDomain
        self.adminHost = adminHost
        self.adminPort = adminPort
    }
}
