import Foundation

/// Return paths (`next` on the relay, `r` carried to the tenant) may only name a path
/// on the same host: an open redirect would let a link on any site bounce a signed-in
/// user to a look-alike page.
enum LocalPath {
    static let maxLength = 2048

    /// `path` if it is a local absolute path (`/…`, not `//host` or `/\host`, which
    /// browsers read as another host), printable ASCII only; else nil.
    static func validated(_ path: String?) -> String? {
        guard let path, path.utf8.count <= maxLength, path.hasPrefix("/") else { return nil }
        let bytes = Array(path.utf8)
        if bytes.count > 1, bytes[1] == UInt8(ascii: "/") || bytes[1] == UInt8(ascii: "\\") { return nil }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) else { return nil }
        return path
    }

    /// `value` percent-encoded for a query parameter (RFC 3986 §2.3 unreserved kept).
    static func queryEncoded(_ value: String) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        allowed.insert(charactersIn: "/")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
