import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Completes a promise once with the TLS handshake's outcome, and holds the plaintext
/// that arrives before the next handler is in place (a server's SETTINGS often comes in
/// the same read as its Finished); removing it hands that plaintext on.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<TLSHandshakeCompleted>
    private var done = false
    private var held: [ByteBuffer] = []
    private var heldEvents: [Any] = []
    /// Succeeds with the first plaintext bytes (or nothing, when the peer closes).
    private var firstData: EventLoopPromise<[UInt8]>?

    init(promise: EventLoopPromise<TLSHandshakeCompleted>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        held.append(buffer)
        firstData?.succeed(Array(buffer.readableBytesView.prefix(ProbeConnection.clientPreface.count)))
        firstData = nil
    }

    /// The first plaintext the peer sends, to tell an HTTP/2 client from a server.
    func firstBytes(on loop: EventLoop) -> EventLoopFuture<[UInt8]> {
        if let first = held.first { return loop.makeSucceededFuture(Array(first.readableBytesView.prefix(ProbeConnection.clientPreface.count))) }
        let promise = firstData ?? loop.makePromise(of: [UInt8].self)
        firstData = promise
        return promise.futureResult
    }

    func channelReadComplete(context: ChannelHandlerContext) {}

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        for buffer in held { context.fireChannelRead(wrapInboundOut(buffer)) }
        if !held.isEmpty { context.fireChannelReadComplete() }
        for event in heldEvents { context.fireUserInboundEventTriggered(event) }
        held = []
        heldEvents = []
        context.leavePipeline(removalToken: removalToken)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted, !done {
            done = true
            promise.succeed(handshake)
            return
        }
        heldEvents.append(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done {
            done = true
            promise.fail(ProbeConnection.tlsFailure(error))
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        firstData?.succeed([])
        firstData = nil
        if !done {
            done = true
            promise.fail(ProbeError(.tls, "connection closed during the TLS handshake"))
        }
        context.fireChannelInactive()
    }
}

/// One HTTP/2 client connection made by h2probe: TCP, TLS (or h2c), then the session,
/// with every frame shown to the output.
final class ProbeConnection: HTTP2ConnectionDelegate, @unchecked Sendable {
    let channel: Channel
    let handler: HTTP2ConnectionHandler
    private let ready: EventLoopPromise<Void>
    private(set) var closeReason: String?
    /// The peer opened the session as the HTTP/2 *client* (it sent the connection
    /// preface), so h2probe plays the server: the relay's agent endpoint does this, since
    /// the relay sends requests to its agents. PINGs and frame dumps work; requests do not.
    private(set) var rolesReversed = false

    /// RFC 9113 §3.4: what an HTTP/2 client sends first.
    static let clientPreface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// How long a probe with a client certificate waits for the peer to speak first.
    static let prefaceWait = TimeAmount.milliseconds(500)

    struct Timing { var tcp: Double; var tls: Double?; var settings: Double }

    private init(channel: Channel, handler: HTTP2ConnectionHandler, ready: EventLoopPromise<Void>) {
        self.channel = channel
        self.handler = handler
        self.ready = ready
    }

    /// Connects to `target` (TLS for https, h2c for http) and waits for its SETTINGS.
    static func open(_ target: ProbeTarget, options: ProbeOptions, output: ProbeOutput,
                     group: EventLoopGroup) async throws -> (ProbeConnection, Timing) {
        try await open(host: target.host, port: target.port, secure: target.secure, options: options,
                       output: output, group: group)
    }

    /// Connects and waits for the peer's SETTINGS.
    static func open(host: String, port: Int, secure: Bool, options: ProbeOptions, output: ProbeOutput,
                     group: EventLoopGroup) async throws -> (ProbeConnection, Timing) {
        let started = output.elapsed
        output.detail("dialling \(options.address(host: host, port: port)):\(port) for \(host)" +
                      (secure ? ", TLS with SNI \(host), ALPN h2" : ", h2c with prior knowledge"))
        let channel = try await connectTCP(host: host, port: port, options: options, group: group)
        let tcpDone = output.elapsed
        output.line("connected to \(HostPort.describe(channel.remoteAddress)) (TCP \(Self.ms(tcpDone - started)))")
        var tlsDone: Double? = nil
        if secure {
            // http/1.1 is offered too, so a server that speaks only that says so (and the
            // message can name it) instead of choosing nothing.
            let engine = try TLSConnection(context: TLSContext(Self.clientTLS(options: options, alpn: ["h2", "http/1.1"])),
                                           serverName: ProbeOptions.serverName(host))
            let handshake = channel.eventLoop.makePromise(of: TLSHandshakeCompleted.self)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandlers([TLSHandler(connection: engine, handshakeTimeout: nil),
                                                                  HandshakeWaiter(promise: handshake)])
                try startReading(channel)
            }.get()
            let result = try await handshake.futureResult.get()
            tlsDone = output.elapsed
            let chain = try await channel.eventLoop.submit { engine.peerChain }.get()
            output.tls(version: result.version, cipher: try await channel.eventLoop.submit { engine.cipherName }.get(),
                       alpn: result.alpn, chain: chain)
            guard result.alpn == "h2" else {
                channel.close(promise: nil)
                throw Self.notHTTP2(alpn: result.alpn)
            }
            // TLS 1.3 finishes the client's handshake before the server checks for a
            // certificate (RFC 8446 §4.4.2.4): say so now, not after a write meets the close.
            if options.certificate == nil, try await channel.eventLoop.submit({ engine.peerRequestedCertificate }).get() {
                channel.close(promise: nil)
                throw ProbeError(.tls, "the server requires a client certificate (mTLS, e.g. the relay's agent " +
                                 "endpoint): give --cert and --key")
            }
        }
        let reversed = secure && options.certificate != nil ? try await peerSpeaksAsClient(channel) : false
        if reversed {
            output.set("rolesReversed", true)
            output.line("the peer sent the HTTP/2 client preface: it is the client here (the relay's agent endpoint " +
                        "sends requests to agents), so h2probe answers as the server")
        }
        let connection = try await attachHTTP2(to: channel, output: output, role: reversed ? .server : .client)
        connection.rolesReversed = reversed
        return (connection, Timing(tcp: tcpDone - started, tls: tlsDone.map { $0 - tcpDone },
                                   settings: output.elapsed - (tlsDone ?? tcpDone)))
    }

    /// Starts an HTTP/2 client session on `channel` and waits for the peer's SETTINGS.
    static func attachHTTP2(to channel: Channel, output: ProbeOutput,
                            role: HTTP2ConnectionHandler.Role = .client) async throws -> ProbeConnection {
        let settings = {
            var settings = HTTP2Settings()
            settings.pingInterval = nil   // a probe measures PING itself
            // As the server on the agent endpoint, say what an agent says (RFC 8441 §3), or
            // the relay closes the session before a PING; its tunnels are refused.
            settings.enableConnectProtocol = role == .server
            return settings
        }()
        let ready = channel.eventLoop.makePromise(of: Void.self)
        let connection = try await channel.eventLoop.submit {
            let handler = HTTP2ConnectionHandler(role: role, settings: settings, eventLoop: channel.eventLoop, delegate: nil)
            let connection = ProbeConnection(channel: channel, handler: handler, ready: ready)
            handler.delegate = connection
            handler.frameObserver = output
            try channel.pipeline.syncOperations.addHandler(handler)
            try Self.releaseHeldPlaintext(channel)
            try Self.startReading(channel)
            return connection
        }.get()
        try await ready.futureResult.get()
        return connection
    }

    /// Whether the peer's first plaintext (within `prefaceWait`) is the HTTP/2 client
    /// preface. Only asked with a client certificate: the agent endpoint requires one, and
    /// other servers are not made to wait.
    static func peerSpeaksAsClient(_ channel: Channel) async throws -> Bool {
        let loop = channel.eventLoop
        let first = try await loop.flatSubmit { () -> EventLoopFuture<[UInt8]> in
            guard let waiter = try? channel.pipeline.syncOperations.handler(type: HandshakeWaiter.self) else {
                return loop.makeSucceededFuture([])
            }
            let timeout = loop.makePromise(of: [UInt8].self)
            let task = loop.scheduleTask(in: prefaceWait) { timeout.succeed([]) }
            waiter.firstBytes(on: loop).cascade(to: timeout)
            return timeout.futureResult.always { _ in task.cancel() }
        }.get()
        return !first.isEmpty && clientPreface.starts(with: first)
    }

    /// The server finished TLS but chose a protocol other than h2 (RFC 7301 §3.2).
    static func notHTTP2(alpn: String?) -> ProbeError {
        let chose = alpn.map { "the server chose \($0) (no h2 offered)" } ?? "the server chose no protocol in ALPN (no h2 offered)"
        return ProbeError(.protocol, "\(chose): h2probe speaks HTTP/2 only; try curl")
    }

    /// Channels are connected with reads off, so a server that speaks first (h2c SETTINGS)
    /// is not read before the handler that understands it is in place.
    static func startReading(_ channel: Channel) throws {
        try channel.syncOptions?.setOption(.autoRead, value: true)
        channel.read()
    }

    /// Hands plaintext held since the handshake to the handler just added.
    static func releaseHeldPlaintext(_ channel: Channel) throws {
        if let waiter = try? channel.pipeline.syncOperations.handler(type: HandshakeWaiter.self) {
            channel.pipeline.syncOperations.removeHandler(waiter, promise: nil)
        }
    }

    static func connectTCP(host: String, port: Int, options: ProbeOptions, group: EventLoopGroup) async throws -> Channel {
        let address = options.address(host: host, port: port)
        do {
            return try await dial(address, port: port, options: options, group: group)
        } catch where isRefused(error) && address == "127.0.0.1" && ProbeOptions.isLocalhostName(host) {
            // A `.localhost` name is both loopback addresses (RFC 6761 §6.3); try the IPv6 one.
            do { return try await dial("::1", port: port, options: options, group: group) } catch {
                throw connectFailure(error, host: host, port: port)
            }
        } catch {
            throw connectFailure(error, host: host, port: port)
        }
    }

    static func connectFailure(_ error: Error, host: String, port: Int) -> ProbeError {
        if case ChannelError.connectTimeout = error {
            return ProbeError(.timeout, "cannot connect to \(host):\(port): timed out")
        }
        return ProbeError(.connect, "cannot connect to \(host):\(port): \(describeConnect(error))")
    }

    private static func dial(_ address: String, port: Int, options: ProbeOptions, group: EventLoopGroup) async throws -> Channel {
        try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.autoRead, value: false)
            .connectTimeout(.fractionalSeconds(options.timeout))
            .connect(host: address, port: port).get()
    }

    static func isRefused(_ error: Error) -> Bool {
        if let error = error as? NIOConnectionError { return error.connectionErrors.contains { isRefused($0.error) } }
        return (error as? IOError)?.errnoCode == ECONNREFUSED
    }

    /// "connection refused", not a dump of NIO's error structure.
    static func describeConnect(_ error: Error) -> String {
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return describeConnect(first.error) }
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve the name (\(dns))" }
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        return "\(error)"
    }

    static func clientTLS(options: ProbeOptions, alpn: [String]) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client, certificateChainPath: options.certificate,
                                             privateKeyPath: options.key, trustRootsPath: options.cacert, alpnProtocols: alpn)
        configuration.verifyPeer = !options.insecure
        return configuration
    }

    /// A TLS failure, or a protocol one when the server refused h2 itself (RFC 7301 §3.2:
    /// alert no_application_protocol).
    static func tlsFailure(_ error: Error) -> ProbeError {
        let text = describeTLS(error)
        if text.contains("no application protocol") {
            return ProbeError(.protocol, "the server does not speak h2 (TLS alert no_application_protocol): " +
                              "h2probe speaks HTTP/2 only; try curl")
        }
        return ProbeError(.tls, text)
    }

    /// OpenSSL's reason, with the alert a relay sends named for what it means.
    static func describeTLS(_ error: Error) -> String {
        let text = "\(error)"
        if text.contains("unrecognized name") { return "TLS alert unrecognized_name: the server knows no such host (\(text))" }
        if text.contains("internal error") { return "TLS alert internal_error: the server could not serve this host (\(text))" }
        return text
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }

    // MARK: HTTP2ConnectionDelegate

    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) { ready.succeed(()) }

    /// A probe playing the server serves nothing: a stream the peer opens (a tunnel the
    /// relay hands to what it takes for an agent) is refused at once, so its browser
    /// gets an error instead of waiting.
    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        stream.reset(HTTP2ErrorCode.refusedStream)
    }

    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {}

    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {
        closeReason = reason
        ready.fail(ProbeError(.protocol, "the server closed the connection before its SETTINGS: \(reason ?? "closed")"))
    }
}
