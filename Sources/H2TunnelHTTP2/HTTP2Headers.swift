/// A decoded header block, in order, names lower-case (RFC 9113 §8.2.1).
public struct HTTP2Headers: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public mutating func append(name: String, value: String) { fields.append((name, value)) }

    public subscript(_ name: String) -> String? { fields.first(where: { $0.name == name })?.value }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Total size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2).
    var listSize: Int { fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 32 } }
}
