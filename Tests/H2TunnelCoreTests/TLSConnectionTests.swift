import H2TunnelTLS
import NIOCore
import Testing

extension TLSConnection.ReadResult {
    /// The plaintext of a `.data` result, nil for any other.
    var plaintext: ByteBuffer? {
        if case .data(let buffer) = self { return buffer }
        return nil
    }
}

/// Two TLS engines pumping bytes to each other in memory: no sockets, real OpenSSL.
@Suite struct TLSConnectionTests {
    let allocator = ByteBufferAllocator()

    /// Moves bytes both ways until neither side has more to say.
    func pump(_ a: TLSConnection, _ b: TLSConnection) -> (TLSConnection.HandshakeResult, TLSConnection.HandshakeResult) {
        var results = (a.handshake(), b.handshake())
        for _ in 0..<10 {
            var moved = false
            if let out = a.takeOutput() { b.feed(out); moved = true }
            if let out = b.takeOutput() { a.feed(out); moved = true }
            results = (a.handshake(), b.handshake())
            if !moved { break }
        }
        return results
    }

    func serverContext(mTLS: Bool) throws -> TLSContext {
        try TLSContext(TLSConfiguration(
            role: .server, certificateChainPath: PKIFixture.path("relay.pem"), privateKeyPath: PKIFixture.path("relay.key"),
            trustRootsPath: mTLS ? PKIFixture.path("agent-ca.pem") : nil, alpnProtocols: ["h2"], requireALPN: true))
    }

    /// A client like a browser's: no certificate, the development CA, ALPN `alpn`.
    func browser(alpn: [String] = ["h2"]) throws -> TLSConnection {
        try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .client, trustRootsPath: PKIFixture.path("ca.pem"), alpnProtocols: alpn)),
            serverName: "agents.relay.localhost")
    }

    /// A browser-like client and a server past their handshake, the server's last flight
    /// taken; nil (and the test failed) if the handshake did not complete.
    func handshaken() throws -> (client: TLSConnection, server: TLSConnection)? {
        let client = try browser()
        let server = try TLSConnection(context: serverContext(mTLS: false))
        let (c, s) = pump(client, server)
        guard case .complete = c, case .complete = s else {
            Issue.record("handshake did not complete: \(c) \(s)")
            return nil
        }
        _ = server.takeOutput()
        return (client, server)
    }

    @Test func mutualTLSCarriesTheTenantAndData() throws {
        let client = try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .client, certificateChainPath: PKIFixture.path("tenants/acme/agent.pem"),
            privateKeyPath: PKIFixture.path("tenants/acme/agent.key"), trustRootsPath: PKIFixture.path("ca.pem"),
            alpnProtocols: ["h2"])), serverName: "agents.relay.localhost")
        let server = try TLSConnection(context: serverContext(mTLS: true))
        let (c, s) = pump(client, server)
        guard case .complete = c, case .complete = s else {
            Issue.record("handshake did not complete: \(c) \(s)")
            return
        }
        #expect(client.negotiatedALPN == "h2")
        #expect(server.peerCertificate?.uris == ["urn:h2tunnel:tenant:acme"])
        try client.write(ByteBuffer(string: "hello"))
        server.feed(client.takeOutput()!)
        let plain = try #require(server.read(allocator: allocator).plaintext, "no plaintext")
        #expect(String(buffer: plain) == "hello")
    }

    /// The last bytes and the close_notify behind them arrive together: the data comes
    /// first, and the close is still reported (the upstream then gets its FIN).
    @Test func closeNotifyBehindTheLastDataIsReported() throws {
        guard let (client, server) = try handshaken() else { return }
        try client.write(ByteBuffer(string: "last bytes"))
        client.shutdown()
        server.feed(client.takeOutput()!)
        let plain = try #require(server.read(allocator: allocator).plaintext, "no plaintext")
        #expect(String(buffer: plain) == "last bytes")
        guard case .closed = server.read(allocator: allocator) else {
            Issue.record("close_notify not reported")
            return
        }
    }

    /// A read decrypts every whole record that has arrived and stops at the first one
    /// that has not (without asking OpenSSL once more when nothing is left): several
    /// records in one feed come out in one read, a record cut in two waits for its
    /// second half, and plaintext held back by a read's limit comes out on the next read
    /// even with no new ciphertext.
    @Test func readsTakeEveryWholeRecordAndWaitForTheRest() throws {
        guard let (client, server) = try handshaken() else { return }
        for word in ["one ", "two ", "three"] { try client.write(ByteBuffer(string: word)) }
        server.feed(client.takeOutput()!)
        let three = try #require(server.read(allocator: allocator).plaintext, "no plaintext from three records")
        #expect(String(buffer: three) == "one two three")
        guard case .wantMore = server.read(allocator: allocator) else {
            Issue.record("a read with nothing left did not ask for more")
            return
        }

        try client.write(ByteBuffer(string: "split record"))
        var record = client.takeOutput()!
        let head = record.readSlice(length: record.readableBytes / 2)!
        server.feed(head)
        guard case .wantMore = server.read(allocator: allocator) else {
            Issue.record("half a record was not held back")
            return
        }
        server.feed(record)
        let split = try #require(server.read(allocator: allocator).plaintext, "no plaintext once the record was whole")
        #expect(String(buffer: split) == "split record")

        try client.write(ByteBuffer(string: String(repeating: "x", count: 3000)))
        server.feed(client.takeOutput()!)
        let first = try #require(server.read(allocator: allocator, limit: 1000).plaintext, "no plaintext under a limit")
        let rest = try #require(server.read(allocator: allocator).plaintext, "plaintext held by OpenSSL was not read without new input")
        #expect(first.readableBytes == 1000)
        #expect(rest.readableBytes == 2000)
    }

    /// OpenSSL reads ahead (one BIO read takes all the ciphertext there is, not a record
    /// header and then its body): a read that stops at its limit after the first record
    /// leaves the second one read but not decrypted, counted by neither our input nor
    /// `SSL_pending`. The next read must still find it, with no new ciphertext.
    @Test func aRecordReadAheadButNotDecryptedComesOutOnTheNextRead() throws {
        guard let (client, server) = try handshaken() else { return }
        try client.write(ByteBuffer(string: String(repeating: "a", count: 4096)))
        try client.write(ByteBuffer(string: String(repeating: "b", count: 4096)))
        server.feed(client.takeOutput()!)
        let first = try #require(server.read(allocator: allocator, limit: 4096).plaintext, "no plaintext from the first record")
        #expect(String(buffer: first) == String(repeating: "a", count: 4096))
        let second = try #require(server.read(allocator: allocator).plaintext, "the record read ahead was not decrypted")
        #expect(String(buffer: second) == String(repeating: "b", count: 4096))
    }

    /// With tickets held, the handshake flight to the browser carries none, and the first
    /// data flight carries them ahead of the data, which still reads back intact.
    @Test func sessionTicketsLeaveWithTheFirstWrite() throws {
        func run(holdingTickets: Bool) throws -> (handshake: Int, firstWrite: Int, read: String) {
            let client = try browser()
            let server = try TLSConnection(context: serverContext(mTLS: false))
            if holdingTickets { server.sendTicketsWithFirstWrite() }
            var handshakeBytes = 0
            for _ in 0..<10 {
                _ = client.handshake()
                _ = server.handshake()
                let toServer = client.takeOutput()
                let toClient = server.takeOutput()
                if let toServer { server.feed(toServer) }
                if let toClient { handshakeBytes += toClient.readableBytes; client.feed(toClient) }
                if toServer == nil && toClient == nil { break }
            }
            try server.write(ByteBuffer(string: "first"))
            let flight = server.takeOutput()!
            client.feed(flight)
            var read = ""
            while case .data(let plain) = client.read(allocator: allocator) { read += String(buffer: plain) }
            return (handshakeBytes, flight.readableBytes, read)
        }
        let plain = try run(holdingTickets: false)
        let held = try run(holdingTickets: true)
        #expect(plain.read == "first" && held.read == "first")
        #expect(plain.handshake - held.handshake > 100)   // tickets are ~250 bytes each
        // The same tickets moved, give or take their encoding (lengths vary by a few bytes).
        #expect(abs((held.firstWrite - plain.firstWrite) - (plain.handshake - held.handshake)) < 32)
    }

    @Test func wrongServerNameFailsVerification() throws {
        let client = try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .client, trustRootsPath: PKIFixture.path("ca.pem"), alpnProtocols: ["h2"])), serverName: "evil.localhost")
        let server = try TLSConnection(context: serverContext(mTLS: false))
        let (c, _) = pump(client, server)
        guard case .failed(let error) = c else {
            Issue.record("expected failure, got \(c)")
            return
        }
        #expect(error.description.contains("certificate verify failed"))
    }

    /// TLS 1.3: the server refuses a client certificate from another CA; the client may
    /// think it is done, but the server never is (docs/interop-notes.md).
    @Test func rogueClientCertificateIsRefused() throws {
        let client = try TLSConnection(context: TLSContext(TLSConfiguration(
            role: .client, certificateChainPath: PKIFixture.path("rogue/agent.pem"),
            privateKeyPath: PKIFixture.path("rogue/agent.key"), trustRootsPath: PKIFixture.path("ca.pem"),
            alpnProtocols: ["h2"])), serverName: "agents.relay.localhost")
        let server = try TLSConnection(context: serverContext(mTLS: true))
        let (_, s) = pump(client, server)
        guard case .failed = s else {
            Issue.record("server accepted a rogue client: \(s)")
            return
        }
    }

    @Test func noSharedALPNIsRefusedWhenRequired() throws {
        let client = try browser(alpn: ["http/1.1"])
        let server = try TLSConnection(context: serverContext(mTLS: false))
        let (_, s) = pump(client, server)
        guard case .failed = s else {
            Issue.record("expected ALPN failure, got \(s)")
            return
        }
    }
}
