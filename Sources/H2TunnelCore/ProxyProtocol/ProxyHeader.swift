import NIOCore

/// What a load balancer said about a connection in its PROXY protocol header
/// (haproxy's proxy-protocol.txt, versions 1 and 2).
public struct ProxyHeader: Sendable, Equatable {
    public enum Command: Sendable, Equatable {
        /// Relayed for a client: `source` is the client's address when the family is known.
        case proxy
        /// The balancer's own connection (a health check, v2 LOCAL): use the real peer.
        case local
    }

    /// 1 (text) or 2 (binary).
    public var version: Int
    public var command: Command
    /// The client's address and port; nil for LOCAL, v1 `UNKNOWN` and v2 `UNSPEC`, where
    /// the spec says to use the real connection's endpoints.
    public var source: SocketAddress?
    /// The address the client connected to (the balancer's frontend); nil as for `source`.
    public var destination: SocketAddress?

    public init(version: Int, command: Command, source: SocketAddress?, destination: SocketAddress?) {
        self.version = version
        self.command = command
        self.source = source
        self.destination = destination
    }
}

/// The outcome of looking at the first bytes of a connection from a trusted balancer.
public enum ProxyHeaderParseResult: Sendable, Equatable {
    /// The bytes so far are a valid beginning: read more and call again with all of them.
    case needMore
    /// A whole header of `length` bytes; what follows it is the client's own stream.
    case complete(ProxyHeader, length: Int)
    /// Not a PROXY header (`missing`: it does not start with either signature) or a
    /// broken one (anything else).
    case invalid(ProxyHeaderProblem)
}

/// Why the first bytes are not an acceptable PROXY header.
public enum ProxyHeaderProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither the v1 nor the v2 signature: the sender speaks no PROXY protocol.
    case missing
    /// A signature, then something the spec does not allow; the text says what.
    case malformed(String)

    public var description: String {
        switch self {
        case .missing: "no PROXY protocol signature"
        case .malformed(let why): why
        }
    }
}
