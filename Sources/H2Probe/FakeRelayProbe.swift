import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore
import NIOPosix

/// `h2probe relay`: stands in for a relay to debug an agent without one. Accepts one agent
/// connection with mTLS, shows its identity and SETTINGS, pings it, opens a test CONNECT
/// stream, and gives a verdict.
public struct FakeRelayProbe: Sendable {
    public var listenHost: String
    public var listenPort: Int
    public var certificatePath: String
    public var keyPath: String
    public var agentCAPath: String
    /// `:authority` of the test stream; default `<tenant>.<tenantDomain>`.
    public var authority: String?
    public var tenantDomain: String
    public var options: ProbeOptions

    public init(listenHost: String, listenPort: Int, certificatePath: String, keyPath: String, agentCAPath: String,
                authority: String?, tenantDomain: String, options: ProbeOptions) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.agentCAPath = agentCAPath
        self.authority = authority
        self.tenantDomain = tenantDomain
        self.options = options
    }

    public func run(output: ProbeOutput, group: EventLoopGroup) async throws {
        let context = try TLSContext(TLSConfiguration(role: .server, certificateChainPath: certificatePath,
                                                      privateKeyPath: keyPath, trustRootsPath: agentCAPath,
                                                      alpnProtocols: [TunnelProtocol.alpn], requireALPN: true))
        let accepted = group.any().makePromise(of: (Channel, TLSConnection, EventLoopFuture<TLSHandshakeCompleted>).self)
        let server: Channel
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let engine = try TLSConnection(context: context)
                        let handshake = channel.eventLoop.makePromise(of: TLSHandshakeCompleted.self)
                        try channel.pipeline.syncOperations.addHandlers([TLSHandler(connection: engine),
                                                                          HandshakeWaiter(promise: handshake)])
                        accepted.succeed((channel, engine, handshake.futureResult))
                    }
                }
                .bind(host: listenHost, port: listenPort).get()
        } catch {
            throw ProbeError(.connect, "cannot listen on \(listenHost):\(listenPort): \(error)")
        }
        output.line("listening on \(HostPort.describe(server.localAddress)) for one agent")
        announce("h2probe relay listening \(HostPort.describe(server.localAddress))")
        let (channel, engine, handshakeFuture) = try await accepted.futureResult.get()
        server.close(promise: nil)
        output.line("agent connected from \(HostPort.describe(channel.remoteAddress))")

        var checks: [(String, Bool, String)] = []
        func verdict() throws {
            let failed = checks.filter { !$0.1 }
            output.set("checks", checks.map { ["check": $0.0, "ok": $0.1, "detail": $0.2] })
            output.set("verdict", failed.isEmpty ? "healthy" : "unhealthy")
            for check in checks { output.raw("\(check.1 ? "ok  " : "FAIL") \(check.0): \(check.2)\n") }
            if !failed.isEmpty {
                output.raw("verdict: unhealthy\n")
                throw ProbeError(.verdict, "agent unhealthy: " + failed.map { "\($0.0): \($0.2)" }.joined(separator: "; "))
            }
            output.raw("verdict: healthy\n")
        }

        let handshake: TLSHandshakeCompleted
        do {
            handshake = try await handshakeFuture.get()
        } catch let error as ProbeError {
            checks.append(("mTLS", false, error.message))
            try verdict()
            return
        }
        let leaf = try await channel.eventLoop.submit { engine.peerLeaf }.get()
        let tenants = (leaf?.names.uris ?? []).filter { $0.hasPrefix(TunnelProtocol.tenantURIPrefix) }
            .map { String($0.dropFirst(TunnelProtocol.tenantURIPrefix.count)) }
        output.set("agent", ["certificate": leaf.map(ProbeOutput.json) as Any, "tenant": tenants.first as Any,
                             "tls": handshake.version])
        checks.append(("mTLS", true, "\(handshake.version), subject \(leaf?.subject ?? "?"), issuer \(leaf?.issuer ?? "?")"))
        guard tenants.count == 1 else {
            checks.append(("tenant", false, "expected one \(TunnelProtocol.tenantURIPrefix)<id> URI SAN, found \(tenants.count)"))
            try verdict()
            return
        }
        let tenant = tenants[0]
        checks.append(("tenant", true, tenant))

        let connection: ProbeConnection
        do {
            connection = try await ProbeConnection.attachHTTP2(to: channel, output: output)
        } catch let error as ProbeError {
            checks.append(("SETTINGS", false, error.message))
            try verdict()
            return
        }
        let loop = channel.eventLoop
        let extended = try await loop.submit { connection.handler.acceptsExtendedConnect }.get()
        checks.append(("SETTINGS_ENABLE_CONNECT_PROTOCOL", extended, extended ? "1" : "not advertised"))

        var rtts: [Double] = []
        for _ in 0..<3 {
            if let rtt = try? await loop.flatSubmit({ connection.handler.measurePing() }).get() {
                rtts.append(Double(rtt.nanoseconds) / 1e6)
            }
        }
        checks.append(("PING", rtts.count == 3, rtts.map { String(format: "%.3f ms", $0) }.joined(separator: ", ")))

        if extended {
            let host = (authority ?? "\(tenant).\(tenantDomain)").split(separator: ":").first.map(String.init) ?? ""
            let collector = ResponseCollector(eventLoop: loop) { output.elapsed }
            let headers = [(":method", "CONNECT"), (":protocol", TunnelProtocol.rawTLSToken), (":scheme", "https"),
                           (":authority", "\(host):443"), (":path", "/"), ("forwarded", "for=_h2probe")]
            let stream = try await loop.submit {
                try connection.handler.openStream(headers: headers, delegate: collector)
            }.get()
            let status = (try? await collector.headersReceived.futureResult.get())?[":status"] ?? "none"
            let reason = collector.headers["h2tunnel-error"].map { " (\($0))" } ?? ""
            checks.append(("CONNECT \(host)", status == "200", ":status \(status)\(reason)"))
            try? await loop.submit { stream.reset(HTTP2ErrorCode.cancel) }.get()
        }
        try? await loop.submit { connection.handler.drain() }.get()
        channel.close(promise: nil)
        try verdict()
    }
}
