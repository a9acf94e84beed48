/// A decoded header block, in order, names lower-case (RFC 9113 §8.2.1).
public struct HTTP2Headers: Sendable, Sequence {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public private(set) var fields: [Field] = []

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { Field(name: $0.0, value: $0.1) }
    }

    /// Room for a tunnel's CONNECT (nine fields) and then some.
    static let usualCount = 12

    /// Empty, with room for `capacity` fields: a block being decoded grows by one field at a
    /// time, and a CONNECT's nine took five allocations.
    init(capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    public mutating func append(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    public subscript(_ name: String) -> String? { fields.first(where: { $0.name == name })?.value }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}
