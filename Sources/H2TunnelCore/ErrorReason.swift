import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// An error as a person reads it in a one-line message: a system call's failure as the C
/// library words it ("connection refused", "address already in use"), not NIO's
/// `IOError` text with its call name and errno; anything else as it describes itself.
public enum ErrorReason {
    public static func text(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        return String(cString: strerror(io.errnoCode)).lowercased()
    }
}
