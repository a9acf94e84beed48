import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore
import NIOPosix

/// `h2probe route HOST --via RELAY:PORT`: what the relay does with that SNI, whether the
/// far end answers, and which certificate it presents.
public struct RouteProbe: Sendable {
    public var host: String
    public var viaHost: String
    public var viaPort: Int
    /// The relay's own name: its certificate is fetched to tell "the relay" from "a tenant".
    public var relayHostname: String?
    public var options: ProbeOptions

    public init(host: String, viaHost: String, viaPort: Int, relayHostname: String?, options: ProbeOptions) {
        self.host = host
        self.viaHost = viaHost
        self.viaPort = viaPort
        self.relayHostname = relayHostname
        self.options = options
    }

    struct Handshake {
        var channel: Channel
        var engine: TLSConnection
        var result: TLSHandshakeCompleted
    }

    public func run(output: ProbeOutput, group: EventLoopGroup) async throws {
        let started = output.elapsed
        let channel = try await ProbeConnection.connectTCP(host: viaHost, port: viaPort, options: options, group: group)
        let tcp = output.elapsed - started
        output.line("connected to relay \(viaHost):\(viaPort) (TCP \(ProbeConnection.ms(tcp)))")
        let handshake: Handshake
        do {
            handshake = try await tls(channel: channel, serverName: host)
        } catch let error as ProbeError {
            let verdict = error.message.contains("unrecognized_name") ? "refused: the relay knows no such host"
                : error.message.contains("internal_error") ? "refused: tenant offline, or its agent did not accept the stream"
                : "refused: \(error.message)"
            output.set("route", ["host": host, "kind": "refused", "verdict": verdict, "tcpMs": tcp * 1000])
            throw ProbeError(.verdict, verdict)
        }
        let tlsTime = output.elapsed - started - tcp
        let (leaf, chain, cipher) = try await channel.eventLoop.submit {
            (handshake.engine.peerLeaf, handshake.engine.peerChain, handshake.engine.cipherName)
        }.get()
        output.tls(version: handshake.result.version, cipher: cipher, alpn: handshake.result.alpn, chain: chain)

        // The agent endpoint asks for a client certificate during the handshake; under TLS 1.3
        // its refusal only arrives afterwards, so the request itself is the reliable sign.
        let askedForCertificate = try await channel.eventLoop.submit { handshake.engine.peerRequestedCertificate }.get()
        var kind = askedForCertificate ? "agent-endpoint" : "tls-terminated"
        var relaySHA: String? = nil
        if let relayHostname, relayHostname != host {
            relaySHA = try? await relayFingerprint(relayHostname, group: group)
        }
        let firstByteStart = output.elapsed
        let answer: String
        if askedForCertificate {
            answer = "none: the relay requires an agent client certificate here"
            channel.close(promise: nil)
        } else {
            answer = try await firstResponse(handshake, output: output)
        }
        let firstByte = output.elapsed - firstByteStart
        if kind != "agent-endpoint" {
            if relayHostname == host {
                kind = "relay"
            } else if let relaySHA {
                kind = relaySHA == leaf?.sha256 ? "relay" : "tenant"
            }
        }
        let explanation: String
        switch kind {
        case "relay": explanation = "the relay itself terminates TLS for \(host)"
        case "tenant": explanation = "tunnelled: the certificate is not the relay's, so TLS ends beyond the relay (end to end)"
        case "agent-endpoint": explanation = "the agent endpoint (mTLS)"
        default: explanation = "TLS terminated by a certificate for \((leaf?.names.dnsNames ?? []).joined(separator: ", "))"
        }
        output.set("route", ["host": host, "kind": kind, "verdict": explanation, "answer": answer,
                             "certificate": leaf.map(ProbeOutput.json) as Any,
                             "tcpMs": tcp * 1000, "tlsMs": tlsTime * 1000, "firstByteMs": firstByte * 1000])
        output.raw("""
            route \(host) via \(viaHost):\(viaPort)
              kind:        \(kind)
              verdict:     \(explanation)
              certificate: \(leaf?.subject ?? "none") (issuer \(leaf?.issuer ?? "none"), sha256 \(leaf?.sha256.prefix(16) ?? "")…)
              answer:      \(answer)
              timing:      TCP \(ProbeConnection.ms(tcp)), TLS \(ProbeConnection.ms(tlsTime)), first byte \(ProbeConnection.ms(firstByte))

            """)
    }

    private func tls(channel: Channel, serverName: String) async throws -> Handshake {
        let engine = try TLSConnection(context: TLSContext(ProbeConnection.clientTLS(options: options, alpn: ["h2", "http/1.1"])),
                                       serverName: serverName)
        let promise = channel.eventLoop.makePromise(of: TLSHandshakeCompleted.self)
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandlers([TLSHandler(connection: engine, handshakeTimeout: nil),
                                                              HandshakeWaiter(promise: promise)])
            try ProbeConnection.startReading(channel)
        }.get()
        return Handshake(channel: channel, engine: engine, result: try await promise.futureResult.get())
    }

    private func relayFingerprint(_ name: String, group: EventLoopGroup) async throws -> String? {
        let channel = try await ProbeConnection.connectTCP(host: viaHost, port: viaPort, options: options, group: group)
        defer { channel.close(promise: nil) }
        let handshake = try await tls(channel: channel, serverName: name)
        return try await channel.eventLoop.submit { handshake.engine.peerLeaf?.sha256 }.get()
    }

    /// `GET /` over whatever ALPN chose; returns the status line.
    private func firstResponse(_ handshake: Handshake, output: ProbeOutput) async throws -> String {
        let channel = handshake.channel
        if handshake.result.alpn == "h2" {
            let connection: ProbeConnection
            do {
                connection = try await ProbeConnection.attachHTTP2(to: channel, output: output)
            } catch let error as ProbeError {
                throw ProbeError(.protocol, error.message)
            }
            let collector = ResponseCollector(eventLoop: channel.eventLoop) { output.elapsed }
            let headers = [(":method", "GET"), (":scheme", "https"), (":authority", host), (":path", "/"), ("user-agent", "h2probe/1")]
            try await channel.eventLoop.submit {
                _ = try connection.handler.openStream(headers: headers, delegate: collector, hasBody: false)
            }.get()
            let response = try await collector.headersReceived.futureResult.get()
            channel.close(promise: nil)
            return "HTTP/2 \(response[":status"] ?? "?")"
        }
        let line = channel.eventLoop.makePromise(of: String.self)
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(FirstLineHandler(promise: line))
            try ProbeConnection.releaseHeldPlaintext(channel)
        }.get()
        let request = "GET / HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: h2probe/1\r\nConnection: close\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        defer { channel.close(promise: nil) }
        return try await line.futureResult.get()
    }
}

/// Reads until the first line of an HTTP/1.1 response.
final class FirstLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<String>
    private var seen = ByteBuffer()

    init(promise: EventLoopPromise<String>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        seen.writeBuffer(&bytes)
        let text = String(buffer: seen)
        if let end = text.range(of: "\r\n") { promise.succeed(String(text[..<end.lowerBound])) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(ProbeConnection.tlsFailure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ProbeError(.protocol, "closed without an HTTP response"))
    }
}
