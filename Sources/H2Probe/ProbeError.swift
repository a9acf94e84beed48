/// Why a probe failed, and the exit code it ends with (README "h2probe exit codes").
public struct ProbeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case connect, tls, `protocol`, timeout, verdict
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// 0 ok; 2 connect; 3 TLS; 4 HTTP/2 protocol; 5 timeout; 6 negative verdict; 64 usage.
    public var exitCode: Int32 {
        switch kind {
        case .connect: 2
        case .tls: 3
        case .protocol: 4
        case .timeout: 5
        case .verdict: 6
        }
    }
}
