import NIOCore
import NIOHTTP1

/// A whole request for the routes that answer in one piece (JSON, pages):
/// the head plus a body of at most `maxBody` bytes.
struct DemoRequest {
    /// Vouchers are a few hundred bytes; 16 KiB leaves room and bounds memory.
    static let maxBody = 16 * 1024

    let head: HTTPRequestHead
    let body: ByteBuffer

    var method: HTTPMethod { head.method }

    /// The path without the query, as the routes match it.
    var path: String {
        head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
    }

    /// Path segments after the leading slash: "/api/ledgers/1930" → ["api", "ledgers", "1930"].
    var segments: [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().filter { !$0.isEmpty }
    }

    /// One header's values joined as a list (RFC 9110 §5.3), nil when absent.
    func header(_ name: String) -> String? {
        let values = head.headers[name]
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}
