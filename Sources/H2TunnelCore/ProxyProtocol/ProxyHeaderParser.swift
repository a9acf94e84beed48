import NIOCore

/// Reads a PROXY protocol v1 or v2 header (haproxy's proxy-protocol.txt) from the first
/// bytes of a connection, without consuming them.
///
/// A pure function over bytes with hard size bounds, so it can be fed a byte at a time
/// and fuzzed on its own: a v1 line is at most 107 bytes (spec §2.1), a v2 header at most
/// 16 bytes plus `maxV2Payload`. v2 TLVs are walked for well-formedness and skipped.
public struct ProxyHeaderParser: Sendable {
    /// `\r\n\r\n\0\r\nQUIT\n` (spec §2.2): cannot begin an HTTP request, a TLS record or v1.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// `PROXY ` (spec §2.1).
    public static let v1Signature: [UInt8] = Array("PROXY ".utf8)
    /// The longest v1 line, CRLF included (spec §2.1: "a 108-byte buffer" with its NUL).
    public static let maxV1Length = 107

    /// The largest v2 payload (addresses and TLVs) accepted. The spec allows 65535; what
    /// balancers send is 12 or 36 bytes of addresses and a few short TLVs (authority,
    /// unique id, SSL summary), and every byte of it is held before the ClientHello.
    public var maxV2Payload: Int

    public init(maxV2Payload: Int = 2048) {
        self.maxV2Payload = maxV2Payload
    }

    /// Whether `bytes` begin like a PROXY header of either version (or are a prefix of a
    /// signature): what a connection from an untrusted source must not send.
    public static func looksLikeHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return false }
        return matchesPrefix(bytes, v1Signature) || matchesPrefix(bytes, v2Signature)
    }

    public func parse(_ buffer: ByteBuffer) -> ProxyHeaderParseResult {
        buffer.withUnsafeReadableBytes { parse(bytes: $0) }
    }

    public func parse(bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        if bytes.isEmpty { return .needMore }
        if Self.matchesPrefix(bytes, Self.v2Signature) {
            return bytes.count < Self.v2Signature.count ? .needMore : parseV2(bytes)
        }
        if Self.matchesPrefix(bytes, Self.v1Signature) {
            return bytes.count < Self.v1Signature.count ? .needMore : Self.parseV1(bytes)
        }
        return .invalid(.missing)
    }

    /// Whether the first min(count) bytes of `bytes` and `signature` agree.
    static func matchesPrefix(_ bytes: UnsafeRawBufferPointer, _ signature: [UInt8]) -> Bool {
        let n = min(bytes.count, signature.count)
        for i in 0..<n where bytes[i] != signature[i] { return false }
        return true
    }

    // MARK: v1 (spec §2.1)

    /// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN…\r\n`, single spaces.
    static func parseV1(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        let window = min(bytes.count, maxV1Length)
        var end: Int?
        for i in 0..<window {
            if bytes[i] == 0x0D {
                guard i + 1 < bytes.count else { return .needMore }
                guard bytes[i + 1] == 0x0A else { return .invalid(.malformed("v1: CR not followed by LF")) }
                end = i
                break
            }
            if bytes[i] == 0x0A { return .invalid(.malformed("v1: LF without CR")) }
        }
        guard let end else {
            return bytes.count >= maxV1Length ? .invalid(.malformed("v1: no CRLF within \(maxV1Length) bytes")) : .needMore
        }
        let length = end + 2
        guard let line = String(validating: UnsafeRawBufferPointer(rebasing: bytes[v1Signature.count..<end]), as: UTF8.self),
              line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return .invalid(.malformed("v1: not printable ASCII"))
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        if fields.first == "UNKNOWN" {
            // Spec §2.1: the rest of the line up to CRLF is ignored; use the real endpoints.
            return .complete(ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil), length: length)
        }
        guard fields.count == 5 else { return .invalid(.malformed("v1: expected 5 fields after PROXY, got \(fields.count)")) }
        let family = fields[0]
        guard family == "TCP4" || family == "TCP6" else { return .invalid(.malformed("v1: unknown protocol '\(family)'")) }
        guard let sourcePort = port(fields[3]), let destinationPort = port(fields[4]) else {
            return .invalid(.malformed("v1: bad port"))
        }
        guard let source = address(fields[1], port: sourcePort, v6: family == "TCP6"),
              let destination = address(fields[2], port: destinationPort, v6: family == "TCP6") else {
            return .invalid(.malformed("v1: bad \(family == "TCP6" ? "IPv6" : "IPv4") address"))
        }
        return .complete(ProxyHeader(version: 1, command: .proxy, source: source, destination: destination), length: length)
    }

    /// Decimal 0...65535 without sign or leading zeros (spec §2.1).
    static func port(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text == "0" || !text.hasPrefix("0"), let value = Int(text), value <= 65535 else { return nil }
        return value
    }

    /// An address of exactly the announced family (inet_pton's forms; no names, no zones).
    static func address(_ text: Substring, port: Int, v6: Bool) -> SocketAddress? {
        guard !text.isEmpty, !text.contains("%"), let address = try? SocketAddress(ipAddress: String(text), port: port) else {
            return nil
        }
        switch address {
        case .v4 where !v6: return address
        case .v6 where v6: return address
        default: return nil
        }
    }

    // MARK: v2 (spec §2.2)

    func parseV2(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        let header = Self.v2Signature.count + 4
        guard bytes.count > Self.v2Signature.count else { return .needMore }
        // Byte 13: version in the high nibble (must be 2), command in the low one.
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 0x2 else { return .invalid(.malformed("v2: version \(versionCommand >> 4)")) }
        let command: ProxyHeader.Command
        switch versionCommand & 0x0F {
        case 0x0: command = .local
        case 0x1: command = .proxy
        default: return .invalid(.malformed("v2: command \(versionCommand & 0x0F)"))
        }
        guard bytes.count >= header else { return .needMore }
        let familyProtocol = bytes[13]
        let payload = Int(bytes[14]) << 8 | Int(bytes[15])
        guard payload <= maxV2Payload else {
            return .invalid(.malformed("v2: \(payload) bytes of addresses and TLVs (at most \(maxV2Payload))"))
        }
        guard bytes.count >= header + payload else { return .needMore }
        let length = header + payload
        let block = UnsafeRawBufferPointer(rebasing: bytes[header..<length])
        if command == .local {
            // Spec §2.2: LOCAL — use the real endpoints, discard the block and its family.
            return .complete(ProxyHeader(version: 2, command: .local, source: nil, destination: nil), length: length)
        }
        let addressBytes: Int
        switch familyProtocol {
        case 0x00:
            // UNSPEC: use the real endpoints (spec §2.2), whatever the block holds.
            return .complete(ProxyHeader(version: 2, command: .proxy, source: nil, destination: nil), length: length)
        case 0x11: addressBytes = 12
        case 0x21: addressBytes = 36
        case 0x12, 0x22: return .invalid(.malformed("v2: UDP on a TCP listener"))
        case 0x31, 0x32: return .invalid(.malformed("v2: unix socket addresses (no client IP)"))
        default: return .invalid(.malformed("v2: address family/protocol 0x\(String(familyProtocol, radix: 16))"))
        }
        guard payload >= addressBytes else {
            return .invalid(.malformed("v2: \(payload) bytes cannot hold the \(addressBytes) of the addresses"))
        }
        if let problem = Self.checkTLVs(UnsafeRawBufferPointer(rebasing: block[addressBytes...])) {
            return .invalid(.malformed(problem))
        }
        guard let (source, destination) = Self.addresses(block, size: (addressBytes - 4) / 2) else {
            return .invalid(.malformed("v2: bad addresses"))
        }
        return .complete(ProxyHeader(version: 2, command: .proxy, source: source, destination: destination), length: length)
    }

    /// TLVs (spec §2.2.7): type, 16-bit length, value; each must end inside the block.
    /// Their contents are not used, only skipped.
    static func checkTLVs(_ tlvs: UnsafeRawBufferPointer) -> String? {
        var offset = 0
        while offset < tlvs.count {
            guard tlvs.count - offset >= 3 else { return "v2: truncated TLV header" }
            let length = Int(tlvs[offset + 1]) << 8 | Int(tlvs[offset + 2])
            guard tlvs.count - offset - 3 >= length else { return "v2: TLV 0x\(String(tlvs[offset], radix: 16)) overruns the header" }
            offset += 3 + length
        }
        return nil
    }

    /// Source and destination, `size` bytes each, then their two 16-bit ports.
    static func addresses(_ block: UnsafeRawBufferPointer, size: Int) -> (SocketAddress, SocketAddress)? {
        func address(_ at: Int, portAt: Int) -> SocketAddress? {
            try? SocketAddress(packedIPAddress: ByteBuffer(bytes: block[at..<at + size]), port: port(block, portAt))
        }
        guard let source = address(0, portAt: 2 * size), let destination = address(size, portAt: 2 * size + 2) else {
            return nil
        }
        return (source, destination)
    }

    static func port(_ block: UnsafeRawBufferPointer, _ at: Int) -> Int {
        Int(block[at]) << 8 | Int(block[at + 1])
    }
}
