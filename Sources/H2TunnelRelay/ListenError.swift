import H2TunnelCore
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A listener the relay could not open, named by its flag and address, so "address already
/// in use" says which of `--listen` and `--admin-listen` to change.
public struct ListenError: Error, CustomStringConvertible {
    public let flag: String
    public let address: String
    public let cause: Error

    public var description: String {
        if let io = cause as? IOError {
            if io.errnoCode == EADDRINUSE {
                return "cannot listen on \(address) (\(flag)): address already in use — another process (another relay?) holds it; stop it or choose another \(flag)"
            }
            if io.errnoCode == EACCES {
                return "cannot listen on \(address) (\(flag)): permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; or choose another \(flag)"
            }
        }
        return "cannot listen on \(address) (\(flag)): \(ErrorReason.text(cause)) — check \(flag)"
    }

    /// Runs `bind`, turning its failure into a `ListenError` for `flag`.
    static func naming<T>(_ flag: String, host: String, port: Int, _ bind: () async throws -> T) async throws -> T {
        do { return try await bind() } catch {
            throw ListenError(flag: flag, address: HostPort.join(host: host, port: port), cause: error)
        }
    }
}
