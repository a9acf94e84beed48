#if canImport(Glibc)
import Glibc
#endif

/// stdout and stderr written with write(2), never through `FileHandle`: a closed reader
/// (a log collector restarting, `| head`) makes `FileHandle.write` trap, which ended the
/// relay with SIGILL at its next log line. Here a line that cannot be written is dropped.
public enum StandardStream {
    case output, error

    private var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }

    /// Writes all of `text`, or as much as the reader takes before it goes away.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write($0) }
    }

    public func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let written = Glibc.write(descriptor, next, left)
            if written < 0 {
                if errno == EINTR { continue }
                return  // EPIPE and the rest: nobody reads this stream any more.
            }
            left -= written
            next += written
        }
    }

    /// A write to a closed pipe must come back as EPIPE, not kill the process with SIGPIPE
    /// (NIO's sockets already send with MSG_NOSIGNAL; stdout and stderr do not).
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
