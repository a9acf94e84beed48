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

    init(promise: EventLoopPromise<TLSHandshakeCompleted>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(unwrapInboundIn(data))
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
            let engine = try TLSConnection(context: TLSContext(Self.clientTLS(options: options, alpn: ["h2"])), serverName: host)
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
                throw ProbeError(.protocol, "server did not negotiate h2 (ALPN: \(result.alpn ?? "none"))")
            }
        }
        let connection = try await attachHTTP2(to: channel, output: output)
        return (connection, Timing(tcp: tcpDone - started, tls: tlsDone.map { $0 - tcpDone },
                                   settings: output.elapsed - (tlsDone ?? tcpDone)))
    }

    /// Starts an HTTP/2 client session on `channel` and waits for the peer's SETTINGS.
    static func attachHTTP2(to channel: Channel, output: ProbeOutput) async throws -> ProbeConnection {
        let settings = {
            var settings = HTTP2Settings()
            settings.pingInterval = nil   // a probe measures PING itself
            return settings
        }()
        let ready = channel.eventLoop.makePromise(of: Void.self)
        let connection = try await channel.eventLoop.submit {
            let handler = HTTP2ConnectionHandler(role: .client, settings: settings, eventLoop: channel.eventLoop, delegate: nil)
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
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.autoRead, value: false)
                .connectTimeout(.fractionalSeconds(options.timeout))
                .connect(host: options.address(host: host, port: port), port: port).get()
        } catch {
            if case ChannelError.connectTimeout = error {
                throw ProbeError(.timeout, "cannot connect to \(host):\(port): timed out")
            }
            throw ProbeError(.connect, "cannot connect to \(host):\(port): \(describeConnect(error))")
        }
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
        var configuration = TLSConfiguration(role: .client, trustRootsPath: options.cacert, alpnProtocols: alpn)
        configuration.verifyPeer = !options.insecure
        return configuration
    }

    /// A TLS failure, or a protocol one when the server refused h2 itself (RFC 7301 §3.2:
    /// alert no_application_protocol).
    static func tlsFailure(_ error: Error) -> ProbeError {
        let text = describeTLS(error)
        if text.contains("no application protocol") {
            return ProbeError(.protocol, "the server does not speak h2 (TLS alert no_application_protocol)")
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

    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {}

    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {}

    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {
        closeReason = reason
        ready.fail(ProbeError(.protocol, "the server closed the connection before its SETTINGS: \(reason ?? "closed")"))
    }
}
