import H2TunnelCore
import H2TunnelTLS
import NIOCore
import Testing

/// Real ClientHellos, made by OpenSSL through `TLSConnection`, cut up the ways networks cut them.
@Suite struct ClientHelloParserTests {
    static func clientHello(serverName: String?, alpn: [String] = ["h2", "http/1.1"]) throws -> [UInt8] {
        let context = try TLSContext(TLSConfiguration(role: .client, alpnProtocols: alpn))
        let connection = try TLSConnection(context: context, serverName: serverName)
        _ = connection.handshake()
        let output = try #require(connection.takeOutput())
        return Array(output.readableBytesView)
    }

    func parse(_ bytes: [UInt8], limit: Int = 16 * 1024) -> ClientHelloParseResult {
        bytes.withUnsafeBytes { ClientHelloParser(maxHandshakeBytes: limit).parse(bytes: $0) }
    }

    @Test func readsServerNameAndALPN() throws {
        let hello = try Self.clientHello(serverName: "Acme.Tunnel.LOCALHOST")
        #expect(parse(hello) == .complete(ClientHelloInfo(serverName: "acme.tunnel.localhost", alpnProtocols: ["h2", "http/1.1"])))
    }

    @Test func noServerName() throws {
        let hello = try Self.clientHello(serverName: nil, alpn: [])
        #expect(parse(hello) == .complete(ClientHelloInfo(serverName: nil, alpnProtocols: [])))
    }

    @Test func everyPrefixNeedsMore() throws {
        let hello = try Self.clientHello(serverName: "acme.tunnel.localhost")
        for length in 0..<hello.count {
            #expect(parse(Array(hello.prefix(length))) == .needMore, "prefix \(length)")
        }
    }

    /// RFC 8446 §5.1: a handshake message may span records; re-cut it into 7-byte records.
    @Test func fragmentedAcrossRecords() throws {
        let hello = try Self.clientHello(serverName: "acme.tunnel.localhost")
        let body = Array(hello.dropFirst(5))
        var records: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let piece = body[offset..<min(offset + 7, body.count)]
            records += [0x16, 0x03, 0x01, 0x00, UInt8(piece.count)] + piece
            offset += 7
        }
        #expect(parse(records) == .complete(ClientHelloInfo(serverName: "acme.tunnel.localhost", alpnProtocols: ["h2", "http/1.1"])))
    }

    /// The announced length is known from the first 9 bytes (or once the handshake
    /// header is in, across records) and never exceeds what the ClientHello really takes.
    @Test func announcedLengthIsALowerBoundKnownEarly() throws {
        let hello = try Self.clientHello(serverName: "acme.tunnel.localhost")
        let announced = { (bytes: [UInt8]) in bytes.withUnsafeBytes { ClientHelloParser.announcedLength($0) } }
        #expect(announced(Array(hello.prefix(8))) == nil)
        #expect(announced(Array(hello.prefix(9))) == hello.count)
        #expect(announced(hello) == hello.count)
        // The handshake header split over a 2-byte record and the rest.
        let body = Array(hello.dropFirst(5))
        let split: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x02] + body.prefix(2)
            + [0x16, 0x03, 0x01, UInt8((body.count - 2) >> 8), UInt8((body.count - 2) & 0xFF)] + body.dropFirst(2)
        #expect(announced(Array(split.prefix(13))) == nil)
        #expect(announced(Array(split.prefix(14))) == split.count)
        #expect(announced(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == nil)
    }

    @Test func notTLS() {
        #expect(parse(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .notTLS)
        #expect(parse([0x16, 0x47]) == .notTLS)
    }

    @Test func tooLarge() throws {
        let hello = try Self.clientHello(serverName: "acme.tunnel.localhost")
        #expect(parse(hello, limit: 100) == .tooLarge)
        // A header announcing a 1 MiB ClientHello is refused before it arrives.
        #expect(parse([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x10, 0x00, 0x00]) == .tooLarge)
    }

    @Test func garbageIsMalformedNotACrash() throws {
        let hello = try Self.clientHello(serverName: "acme.tunnel.localhost")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var mutated = hello
            for _ in 0..<4 {
                let index = Int.random(in: 5..<mutated.count, using: &generator)
                mutated[index] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = parse(mutated)   // any outcome but a crash
        }
        var wrongType = hello
        wrongType[5] = 0x02   // a ServerHello
        guard case .malformed = parse(wrongType) else {
            Issue.record("a ServerHello must be malformed")
            return
        }
    }

    @Test func invalidServerNameIsMalformed() {
        // server_name with a space in it.
        let name = Array("bad name".utf8)
        let sni: [UInt8] = [0x00, 0x00, 0x00, UInt8(name.count + 5), 0x00, UInt8(name.count + 3), 0x00, 0x00, UInt8(name.count)] + name
        let body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]
            + [0x00, UInt8(sni.count)] + sni
        let handshake: [UInt8] = [0x01, 0x00, 0x00, UInt8(body.count)] + body
        let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, UInt8(handshake.count)] + handshake
        guard case .malformed = parse(record) else {
            Issue.record("expected malformed")
            return
        }
    }
}
