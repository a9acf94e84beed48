#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// demo-app's few log lines, on stderr so stdout keeps only the ready line
/// scripts wait for. Written with one `write(2)`, so lines from several event
/// loops never interleave.
enum DemoLog {
    static func line(_ text: String) {
        let bytes = Array("demo-app: \(text)\n".utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
