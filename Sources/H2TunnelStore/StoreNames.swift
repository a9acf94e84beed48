/// The rules for names the store accepts. Checked before SQL, so a bad name gets a
/// message that says what is allowed instead of a constraint failure.
public enum StoreNames {
    /// Tenant ids are the first DNS label of the tenant's host (RFC 1123 §2.1), lower case:
    /// `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
    public static func isTenantID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last,
              isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// User names: 1–64 of `a-z 0-9 . _ @ -`, starting with a letter or digit. Lower case
    /// only, so "Alice" and "alice" can never be two people; an e-mail address fits.
    public static func isUserName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, isLowerAlphanumeric(first) else { return false }
        return bytes.allSatisfy { byte in
            isLowerAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "-")
        }
    }

    /// Display names: 1–200 characters, no control characters (they end up in HTML and
    /// in `tenant list`'s tab-separated lines).
    public static func isDisplayName(_ name: String) -> Bool {
        (1...200).contains(name.count) && name.first?.isWhitespace != true && name.last?.isWhitespace != true
            && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    public static func checkUser(_ name: String) throws(StoreError) {
        guard isUserName(name) else {
            throw StoreError(.invalid, "invalid user name '\(printable(name))': 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit")
        }
    }

    public static func checkTenant(_ id: String) throws(StoreError) {
        guard isTenantID(id) else {
            throw StoreError(.invalid, "invalid tenant id '\(printable(id))': a DNS label, 1-63 of a-z 0-9 -, not starting or ending with -")
        }
    }

    public static func checkDisplayName(_ name: String) throws(StoreError) {
        guard isDisplayName(name) else {
            throw StoreError(.invalid, "invalid tenant name '\(printable(name))': 1-200 characters, no control characters, no leading or trailing spaces")
        }
    }

    public static func checkPassword(_ password: String) throws(StoreError) {
        guard !password.isEmpty else { throw StoreError(.invalid, "empty password") }
        guard password.utf8.count <= maxPasswordBytes else {
            throw StoreError(.invalid, "password longer than \(maxPasswordBytes) bytes")
        }
    }

    /// Longer passwords add nothing to scrypt's strength and only cost memory.
    public static let maxPasswordBytes = 1024

    /// The name as it can go into a one-line message: control characters escaped, long names cut.
    static func printable(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { scalar -> String in
            scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }.joined()
        return escaped.count > 80 ? escaped.prefix(80) + "…" : escaped
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
