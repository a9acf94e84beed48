/// What one `TLSContext` is for. Paths are PEM files.
public struct TLSConfiguration: Sendable {
    public enum Role: Sendable { case client, server }

    public var role: Role
    /// Our certificate chain and key; required for a server, optional for a client (mTLS).
    public var certificateChainPath: String?
    public var privateKeyPath: String?
    /// CA certificates that verify the peer. For a server, setting it makes a client
    /// certificate required (mTLS); for a client, the server is always verified.
    public var trustRootsPath: String?
    /// ALPN protocols in our order of preference. A server picks the first it shares
    /// with the client; with `requireALPN` it refuses a client that shares none.
    public var alpnProtocols: [String]
    public var requireALPN: Bool
    /// Client only: with no `trustRootsPath`, the system's CA store is used; `false` turns
    /// verification off (h2probe --insecure), and the connection then proves nothing.
    public var verifyPeer: Bool = true

    public init(role: Role, certificateChainPath: String? = nil, privateKeyPath: String? = nil,
                trustRootsPath: String? = nil, alpnProtocols: [String] = [], requireALPN: Bool = false) {
        self.role = role
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.trustRootsPath = trustRootsPath
        self.alpnProtocols = alpnProtocols
        self.requireALPN = requireALPN
    }
}
