import Foundation
import H2TunnelCore
import NIOCore
import Testing

/// PROXY protocol v1/v2 (haproxy's proxy-protocol.txt): what Debian's haproxy really
/// sends (Fixtures/proxyprotocol/, how in Fixtures/README.md), hand-made good and broken
/// headers, and every header fed a byte at a time.
@Suite struct ProxyHeaderParserTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/proxyprotocol")

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    static func parse(_ bytes: [UInt8], parser: ProxyHeaderParser = ProxyHeaderParser()) -> ProxyHeaderParseResult {
        bytes.withUnsafeBytes { parser.parse(bytes: $0) }
    }

    static func v2(command: UInt8 = 0x21, family: UInt8 = 0x11, block: [UInt8]) -> [UInt8] {
        ProxyHeaderParser.v2Signature + [command, family, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block
    }

    static let tcp4Block: [UInt8] = [192, 0, 2, 7, 127, 0, 0, 1, 0xC3, 0x50, 0x01, 0xBB]

    /// The header's result, checked to be the same whatever follows it.
    static func complete(_ bytes: [UInt8]) -> (ProxyHeader, Int)? {
        guard case .complete(let header, let length) = parse(bytes) else { return nil }
        #expect(parse(bytes + [0x16, 0x03, 0x01]) == .complete(header, length: length), "bytes after the header changed the result")
        return (header, length)
    }

    // MARK: fixtures from haproxy 2.6 (Debian 12)

    @Test(arguments: ["haproxy-v2-tcp4.bin", "haproxy-v1-tcp4.bin", "haproxy-v2-tlvs.bin"])
    func haproxyTCP4GivesTheClientAddress(name: String) throws {
        let bytes = try Self.fixture(name)
        let (header, length) = try #require(Self.complete(bytes))
        #expect(length == bytes.count)
        #expect(header.command == .proxy)
        #expect(header.version == (name.contains("v1") ? 1 : 2))
        #expect(header.source?.ipAddress == "127.0.0.5")
        #expect(header.destination?.ipAddress == "127.0.0.1")
        #expect((header.source?.port ?? 0) > 0)
    }

    @Test(arguments: ["haproxy-v2-tcp6.bin", "haproxy-v1-tcp6.bin"])
    func haproxyTCP6GivesTheClientAddress(name: String) throws {
        let bytes = try Self.fixture(name)
        let (header, length) = try #require(Self.complete(bytes))
        #expect(length == bytes.count)
        guard case .v6 = header.source else { Issue.record("not IPv6: \(String(describing: header.source))"); return }
        #expect(header.source?.ipAddress == "::1")
    }

    @Test func haproxyHealthCheckIsLocal() throws {
        let bytes = try Self.fixture("haproxy-v2-local-check.bin")
        #expect(Self.parse(bytes) == .complete(ProxyHeader(version: 2, command: .local, source: nil, destination: nil), length: 16))
    }

    @Test(arguments: ["haproxy-v2-tcp4.bin", "haproxy-v1-tcp4.bin", "haproxy-v2-tlvs.bin", "haproxy-v2-tcp6.bin",
                      "haproxy-v1-tcp6.bin", "haproxy-v2-local-check.bin"])
    func everyPrefixNeedsMore(name: String) throws {
        let bytes = try Self.fixture(name)
        for cut in 0..<bytes.count {
            let result = Self.parse(Array(bytes[..<cut]))
            #expect(result == .needMore, "prefix of \(cut) bytes")
            if result != .needMore { break }
        }
    }

    /// As the relay feeds it: a growing ByteBuffer, one byte per read.
    @Test func byteAtATimeThroughAByteBuffer() throws {
        let bytes = try Self.fixture("haproxy-v2-tlvs.bin") + [0x16, 0x03, 0x01, 0x00]
        var buffer = ByteBuffer()
        var outcome: ProxyHeaderParseResult = .needMore
        var fed = 0
        while outcome == .needMore, fed < bytes.count {
            buffer.writeInteger(bytes[fed])
            fed += 1
            outcome = ProxyHeaderParser().parse(buffer)
        }
        guard case .complete(let header, let length) = outcome else { Issue.record("\(outcome)"); return }
        #expect(length == 73 && fed == 73)
        #expect(header.source?.ipAddress == "127.0.0.5")
    }

    // MARK: v1

    @Test func v1Unknown() {
        let line = Array("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".utf8)
        #expect(Self.parse(line) == .complete(ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil),
                                             length: line.count))
        #expect(Self.parse(Array("PROXY UNKNOWN\r\n".utf8)) != .needMore)
    }

    @Test func v1LongestLineIsAccepted() throws {
        let longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
        #expect(longest.utf8.count == 104)
        let (header, length) = try #require(Self.complete(Array(longest.utf8)))
        #expect(length == 104 && header.source?.port == 65535)
    }

    @Test(arguments: [
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          // LF without CR
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",         // CR without LF
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",       // two spaces
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",          // a field short
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",      // a field long
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",        // unknown protocol
        "PROXY TCP4 ::1 ::1 1 2\r\n",                // IPv6 under TCP4
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",        // IPv4 under TCP6
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",      // not an address
        "PROXY TCP4 example.com 5.6.7.8 1 2\r\n",    // a name
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",       // a zone
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",    // port too large
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",       // signed port
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",      // leading zero
        "PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n",
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",       // tab
    ])
    func v1Malformed(line: String) {
        guard case .invalid(.malformed) = Self.parse(Array(line.utf8)) else {
            Issue.record("accepted or waited for \(line.debugDescription): \(Self.parse(Array(line.utf8)))")
            return
        }
    }

    @Test func v1WithoutCRLFWithin107BytesIsRefusedNotBuffered() {
        let long = Array(("PROXY TCP4 " + String(repeating: "1", count: 200)).utf8)
        #expect(Self.parse(Array(long[..<106])) == .needMore)
        guard case .invalid(.malformed) = Self.parse(Array(long[..<107])) else { Issue.record("107 bytes without CRLF"); return }
        guard case .invalid(.malformed) = Self.parse(long) else { Issue.record("200 bytes without CRLF"); return }
    }

    @Test func v1NonASCIIIsRefused() {
        let line: [UInt8] = Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 ".utf8) + [0xC3, 0xA9, 0x0D, 0x0A]
        guard case .invalid(.malformed) = Self.parse(line) else { Issue.record("accepted non-ASCII"); return }
    }

    // MARK: v2

    @Test func v2TCP4WithTLVsSkipped() throws {
        let tlvs: [UInt8] = [0x04, 0x00, 0x00] + [0x02, 0x00, 0x03, 0x61, 0x62, 0x63] + [0xEE, 0x00, 0x01, 0xFF]
        let (header, length) = try #require(Self.complete(Self.v2(block: Self.tcp4Block + tlvs)))
        #expect(length == 16 + 12 + tlvs.count)
        #expect(header.source?.ipAddress == "192.0.2.7" && header.source?.port == 50000)
        #expect(header.destination?.ipAddress == "127.0.0.1" && header.destination?.port == 443)
    }

    @Test func v2TCP6() throws {
        var block = [UInt8](repeating: 0, count: 36)
        block[0] = 0x20; block[1] = 0x01; block[2] = 0x0D; block[3] = 0xB8; block[15] = 1   // 2001:db8::1
        block[31] = 1                                                                     // ::1
        block[32] = 0x12; block[33] = 0x34; block[34] = 0x01; block[35] = 0xBB
        let (header, _) = try #require(Self.complete(Self.v2(family: 0x21, block: block)))
        #expect(header.source?.ipAddress == "2001:db8::1" && header.source?.port == 0x1234)
        #expect(header.destination?.ipAddress == "::1")
    }

    @Test func v2UnspecUsesTheRealPeer() {
        let bytes = Self.v2(family: 0x00, block: [1, 2, 3])
        #expect(Self.parse(bytes) == .complete(ProxyHeader(version: 2, command: .proxy, source: nil, destination: nil),
                                              length: 19))
    }

    @Test func v2LocalIgnoresItsBlock() {
        let bytes = Self.v2(command: 0x20, family: 0x11, block: Self.tcp4Block)
        #expect(Self.parse(bytes) == .complete(ProxyHeader(version: 2, command: .local, source: nil, destination: nil),
                                              length: 28))
    }

    @Test func v2Malformed() {
        let cases: [(String, [UInt8])] = [
            ("version 1", Self.v2(command: 0x11, block: Self.tcp4Block)),
            ("version 3", Self.v2(command: 0x31, block: Self.tcp4Block)),
            ("command 2", Self.v2(command: 0x22, block: Self.tcp4Block)),
            ("UDP", Self.v2(family: 0x12, block: Self.tcp4Block)),
            ("unix", Self.v2(family: 0x31, block: [UInt8](repeating: 0, count: 216))),
            ("family 4", Self.v2(family: 0x41, block: Self.tcp4Block)),
            ("short TCP4 block", Self.v2(block: Array(Self.tcp4Block[..<11]))),
            ("short TCP6 block", Self.v2(family: 0x21, block: Self.tcp4Block)),
            ("truncated TLV header", Self.v2(block: Self.tcp4Block + [0x04, 0x00])),
            ("TLV overruns", Self.v2(block: Self.tcp4Block + [0x02, 0x00, 0x05, 0x61])),
        ]
        for (what, bytes) in cases {
            guard case .invalid(.malformed) = Self.parse(bytes) else {
                Issue.record("\(what): \(Self.parse(bytes))")
                continue
            }
        }
    }

    @Test func v2VersionIsRefusedAsSoonAsItsByteArrives() {
        let bytes = ProxyHeaderParser.v2Signature + [0x11]
        guard case .invalid(.malformed) = Self.parse(bytes) else { Issue.record("waited for more"); return }
    }

    @Test func v2LengthOverTheCapIsRefusedBeforeItsBytes() {
        let parser = ProxyHeaderParser(maxV2Payload: 64)
        let header = ProxyHeaderParser.v2Signature + [0x21, 0x11, 0x00, 65]
        guard case .invalid(.malformed) = Self.parse(header, parser: parser) else { Issue.record("waited for 65 bytes"); return }
        let atCap = Self.v2(block: Self.tcp4Block + [0x04, 0x00, UInt8(64 - 12 - 3)] + [UInt8](repeating: 0, count: 64 - 15))
        guard case .complete(_, let length) = Self.parse(atCap, parser: parser) else { Issue.record("refused at the cap"); return }
        #expect(length == 16 + 64)
        let huge = ProxyHeaderParser.v2Signature + [0x21, 0x11, 0xFF, 0xFF]
        guard case .invalid(.malformed) = Self.parse(huge) else { Issue.record("waited for 65535 bytes"); return }
    }

    /// Mutated captures (bytes flipped, cut, extended) never trap, and a complete header
    /// never claims more bytes than were given.
    @Test func mutatedHeadersHaveADefinedOutcome() throws {
        var generator = SplitMix(seed: 15)
        let seeds = try ["haproxy-v2-tlvs.bin", "haproxy-v1-tcp6.bin", "haproxy-v2-tcp6.bin"].map(Self.fixture)
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let at = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.removeSubrange(at...)
                default: bytes.append(UInt8(truncatingIfNeeded: generator.next()))
                }
                if bytes.isEmpty { bytes = [0x0D] }
            }
            if case .complete(_, let length) = Self.parse(bytes) {
                #expect(length <= bytes.count)
            }
        }
    }

    // MARK: not a PROXY header

    @Test func otherBytesAreMissing() {
        #expect(Self.parse([0x16, 0x03, 0x01, 0x02, 0x00]) == .invalid(.missing))
        #expect(Self.parse(Array("GET / HTTP/1.1\r\n".utf8)) == .invalid(.missing))
        #expect(Self.parse(Array("PROXX".utf8)) == .invalid(.missing))
        #expect(Self.parse(Array("\r\n\r\n\0\r\nQUIX".utf8)) == .invalid(.missing))
        #expect(Self.parse([]) == .needMore)
    }

    @Test func looksLikeHeader() {
        func looks(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { ProxyHeaderParser.looksLikeHeader($0) } }
        #expect(looks(Array("P".utf8)))
        #expect(looks(Array("PROXY TCP4 ".utf8)))
        #expect(looks([0x0D, 0x0A]))
        #expect(looks(ProxyHeaderParser.v2Signature + [0x21]))
        #expect(!looks([0x16, 0x03, 0x01]))
        #expect(!looks(Array("GET /".utf8)))
        #expect(!looks([]))
    }
}

/// A small deterministic generator, so a failing mutation can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
