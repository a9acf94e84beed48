import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// stdin and stdout as pipes NIO can poll, whatever they really are.
///
/// epoll refuses regular files and /dev/null, and NIO closes the descriptors it is given;
/// so two threads copy between the real descriptors and private pipes, and stdout stays
/// ours for the last lines (the JSON document, an error).
final class StdioBridge: @unchecked Sendable {
    /// The descriptors to give NIO: it reads `input` and writes `output`.
    let input: Int32
    let output: Int32
    private let outputDone = DispatchSemaphore(value: 0)

    init() throws {
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else {
            throw ProbeError(.connect, "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        input = inPipe[0]
        output = outPipe[1]
        let feed = inPipe[1]
        let drain = outPipe[0]
        Thread.detachNewThread {
            Self.copy(from: STDIN_FILENO, to: feed)
            close(feed)
        }
        Thread.detachNewThread { [outputDone] in
            Self.copy(from: drain, to: STDOUT_FILENO)
            close(drain)
            outputDone.signal()
        }
    }

    /// Waits until everything the stream sent is on stdout (NIO closed its end).
    func waitForOutput(timeout: Double) {
        _ = outputDone.wait(timeout: .now() + timeout)
    }

    private static func copy(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, count - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
