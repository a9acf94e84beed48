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
    /// Keep each connection's two 16 KiB record buffers between records. Without it
    /// (SSL_MODE_RELEASE_BUFFERS) OpenSSL frees them whenever they empty and allocates
    /// them again for the next record: the right trade for thousands of mostly idle
    /// connections (browsers' tunnels, the relay's site), the wrong one for the agent
    /// connection, one per agent and busy with every request (two allocations and two
    /// frees a request in each process, ~1,700 instructions).
    public var keepsRecordBuffers: Bool = false

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
