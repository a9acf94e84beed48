import NIOCore

/// What the relay learns from a ClientHello before any TLS object exists.
public struct ClientHelloInfo: Sendable, Equatable {
    /// The server name (RFC 6066 §3), lower-cased, without a trailing dot; nil when the client sent none.
    public var serverName: String?
    /// The ALPN protocols the client offers (RFC 7301), in its order of preference.
    public var alpnProtocols: [String]

    public init(serverName: String?, alpnProtocols: [String]) {
        self.serverName = serverName
        self.alpnProtocols = alpnProtocols
    }
}

/// The outcome of looking at the first bytes of a connection.
public enum ClientHelloParseResult: Sendable, Equatable {
    /// Not enough bytes yet: read more and call again with everything read so far.
    case needMore
    case complete(ClientHelloInfo)
    /// The first byte is not a TLS handshake record: not a TLS client at all.
    case notTLS
    /// A TLS record whose ClientHello is larger than the limit.
    case tooLarge
    /// A TLS record that does not hold a well-formed ClientHello.
    case malformed(String)
}

/// Reads SNI and ALPN from the first bytes of a connection without consuming them.
///
/// A pure function over bytes with its own size limit, so it can be fuzzed on its own.
/// The ClientHello may be split across TCP reads (call again with more bytes) and across
/// TLS records (RFC 8446 §5.1: handshake messages may be fragmented over several records).
public struct ClientHelloParser: Sendable {
    /// The largest ClientHello handshake message accepted. Post-quantum key shares make
    /// browsers send ~1.8 KB today; 16 KiB leaves room and bounds what the relay buffers.
    public var maxHandshakeBytes: Int

    public init(maxHandshakeBytes: Int = 16 * 1024) {
        self.maxHandshakeBytes = maxHandshakeBytes
    }

    /// A lower bound on the bytes that hold the ClientHello these bytes begin: its
    /// handshake length plus the headers seen so far. Nil until the 4-byte handshake
    /// header is in (it may span records), or when these are not handshake records.
    /// The relay parses only once this many bytes are in: parsing everything again on
    /// every segment of a ClientHello sent a byte at a time would cost O(n²).
    public static func announcedLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var header = 0, got = 0, offset = 0, records = 0
        while got < 4 {
            guard bytes.count >= offset + 5, bytes[offset] == 0x16 else { return nil }
            let recordLength = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            let take = min(recordLength, 4 - got)
            guard take > 0, bytes.count >= offset + 5 + take else { return nil }
            for i in 0..<take { header = header << 8 | Int(bytes[offset + 5 + i]) }
            got += take
            records += 1
            offset += 5 + recordLength
        }
        guard header >> 24 == 0x01 else { return nil }
        return 4 + (header & 0xFF_FFFF) + 5 * records
    }

    public func parse(_ buffer: ByteBuffer) -> ClientHelloParseResult {
        buffer.withUnsafeReadableBytes { self.parse(bytes: $0) }
    }

    public func parse(bytes: UnsafeRawBufferPointer) -> ClientHelloParseResult {
        guard let first = bytes.first else { return .needMore }
        guard first == 0x16 else { return .notTLS }
        if bytes.count >= 2 && bytes[1] != 0x03 { return .notTLS }

        // Reassemble the handshake message from consecutive handshake records.
        var handshake: [UInt8] = []
        var offset = 0
        var needed: Int? = nil
        while true {
            if let needed, handshake.count >= needed { break }
            guard bytes.count - offset >= 5 else { return .needMore }
            guard bytes[offset] == 0x16, bytes[offset + 1] == 0x03 else {
                return .malformed("expected a handshake record")
            }
            let recordLength = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard recordLength > 0, recordLength <= 16384 else { return .malformed("bad record length") }
            let available = min(recordLength, bytes.count - offset - 5)
            handshake.append(contentsOf: bytes[(offset + 5)..<(offset + 5 + available)])
            if needed == nil, handshake.count >= 4 {
                guard handshake[0] == 0x01 else { return .malformed("first handshake message is not a ClientHello") }
                let length = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                guard length + 4 <= maxHandshakeBytes else { return .tooLarge }
                needed = length + 4
            }
            if handshake.count > maxHandshakeBytes { return .tooLarge }
            if available < recordLength { return .needMore }
            offset += 5 + recordLength
        }
        return Self.parseClientHello(handshake[4..<needed!])
    }

    static func parseClientHello(_ body: ArraySlice<UInt8>) -> ClientHelloParseResult {
        var reader = ByteReader(body)
        guard reader.skip(2 + 32),                       // legacy_version, random
              let sessionIDLength = reader.u8(), sessionIDLength <= 32, reader.skip(Int(sessionIDLength)),
              let suitesLength = reader.u16(), suitesLength >= 2, suitesLength % 2 == 0, reader.skip(Int(suitesLength)),
              let compressionLength = reader.u8(), compressionLength >= 1, reader.skip(Int(compressionLength))
        else { return .malformed("truncated ClientHello") }
        var info = ClientHelloInfo(serverName: nil, alpnProtocols: [])
        if reader.isAtEnd { return .complete(info) }   // no extensions at all
        guard let extensionsLength = reader.u16(), var extensions = reader.sub(Int(extensionsLength)), reader.isAtEnd
        else { return .malformed("bad extensions length") }
        while !extensions.isAtEnd {
            guard let type = extensions.u16(), let length = extensions.u16(), var data = extensions.sub(Int(length))
            else { return .malformed("truncated extension") }
            switch type {
            case 0x0000: // server_name, RFC 6066 §3
                guard let listLength = data.u16(), var list = data.sub(Int(listLength)) else {
                    return .malformed("bad server_name")
                }
                while !list.isAtEnd {
                    guard let nameType = list.u8(), let nameLength = list.u16(), let name = list.bytes(Int(nameLength))
                    else { return .malformed("bad server_name entry") }
                    if nameType == 0 {
                        guard let host = HostName.normalize(name) else { return .malformed("invalid server name") }
                        info.serverName = host
                    }
                }
            case 0x0010: // application_layer_protocol_negotiation, RFC 7301 §3.1
                guard let listLength = data.u16(), var list = data.sub(Int(listLength)) else {
                    return .malformed("bad ALPN")
                }
                while !list.isAtEnd {
                    guard let length = list.u8(), length > 0, let proto = list.bytes(Int(length))
                    else { return .malformed("bad ALPN entry") }
                    info.alpnProtocols.append(String(decoding: proto, as: UTF8.self))
                }
            default:
                break
            }
        }
        return .complete(info)
    }
}

/// A bounds-checked cursor over bytes: every read either succeeds or returns nil.
struct ByteReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func u8() -> UInt8? { bytes.popFirst() }

    mutating func u16() -> UInt16? {
        guard bytes.count >= 2 else { return nil }
        defer { bytes = bytes.dropFirst(2) }
        return UInt16(bytes[bytes.startIndex]) << 8 | UInt16(bytes[bytes.startIndex + 1])
    }

    mutating func skip(_ n: Int) -> Bool { bytes(n) != nil }

    mutating func bytes(_ n: Int) -> ArraySlice<UInt8>? {
        guard n >= 0, bytes.count >= n else { return nil }
        defer { bytes = bytes.dropFirst(n) }
        return bytes.prefix(n)
    }

    mutating func sub(_ n: Int) -> ByteReader? { bytes(n).map(ByteReader.init) }
}
