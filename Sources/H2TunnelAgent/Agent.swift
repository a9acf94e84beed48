import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The agent service: keeps one connection to the relay up (more while one drains),
/// reconnecting with capped exponential backoff and full jitter.
public final class Agent: Sendable {
    public let configuration: AgentConfiguration
    /// The tenant id from our client certificate's URI SAN (what the relay will read).
    public let tenant: String
    /// starting → ready (first relay connection up) → draining (`shutdown()` began) → stopped.
    public let phase = ServicePhase()
    /// The browser-facing TLS context; nil in tls:// mode, where the app holds the key.
    let tenantContext: TLSContext?
    /// http:// mode's web front.
    let front: HTTPFront?
    /// The upstream as an address when it is an IP literal (no resolver on the data path).
    let upstreamAddress: SocketAddress?
    private let relayContext: TLSContext
    private let tenantNames: [String]
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup

    private struct State {
        var backoff: Backoff
        var sessions: [Int: (session: RelaySession, channel: Channel)] = [:]
        var draining: Set<Int> = []
        var nextID = 0
        var stopping = false
        var dialing = false
        var reconnectScheduled = false

        /// A connection that is not draining: another dial would only duplicate it.
        var hasLiveSession: Bool { sessions.keys.contains { !draining.contains($0) } }
    }
    private let state: NIOLockedValueBox<State>

    /// `frontKeys`: required with an http:// upstream (`HTTPFrontKeys.load`).
    public init(configuration: AgentConfiguration, logger: Logger,
                group: MultiThreadedEventLoopGroup = .init(numberOfThreads: 1), frontKeys: HTTPFrontKeys? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        relayContext = try TLSContext(TLSConfiguration(
            role: .client, certificateChainPath: configuration.certificatePath,
            privateKeyPath: configuration.privateKeyPath, trustRootsPath: configuration.relayCAPath,
            alpnProtocols: [TunnelProtocol.alpn]))
        if configuration.upstream.terminatesTLS {
            guard let cert = configuration.tenantCertificatePath, let key = configuration.tenantKeyPath else {
                throw TLSError("--tenant-cert and --tenant-key are required with a tcp:// or http:// upstream")
            }
            // http:// serves HTTP/2 itself; tcp:// hands plaintext to an app that may speak
            // only HTTP/1.1, so it offers nothing else.
            let alpn = if case .http = configuration.upstream { ["h2", "http/1.1"] } else { ["http/1.1"] }
            tenantContext = try TLSContext(TLSConfiguration(role: .server, certificateChainPath: cert,
                                                            privateKeyPath: key, alpnProtocols: alpn))
        } else {
            tenantContext = nil
        }
        let identity = try CertificateNames.load(pemPath: configuration.certificatePath)
        guard let uri = identity.uris.first(where: { $0.hasPrefix(TunnelProtocol.tenantURIPrefix) }) else {
            throw TLSError("\(configuration.certificatePath) has no \(TunnelProtocol.tenantURIPrefix)<id> URI SAN")
        }
        tenant = String(uri.dropFirst(TunnelProtocol.tenantURIPrefix.count))
        upstreamAddress = try? SocketAddress(ipAddress: configuration.upstream.host, port: configuration.upstream.port)
        let certificateNames = try configuration.tenantCertificatePath.map { try CertificateNames.load(pemPath: $0).dnsNames } ?? []
        if let path = configuration.tenantCertificatePath,
           let mismatch = TenantCertificateCheck.mismatch(names: certificateNames, tenant: tenant, tenantCertificatePath: path,
                                                          clientCertificatePath: configuration.certificatePath) {
            throw TLSError(mismatch)
        }
        let tenantNames = (certificateNames + configuration.tenantNames).map { $0.lowercased() }
        guard !tenantNames.isEmpty else {
            throw TLSError("no tenant names: give --tenant-cert (its DNS names) or --tenant-name")
        }
        self.tenantNames = tenantNames
        if case .http(let host, let port) = configuration.upstream {
            guard let frontKeys, let relayURL = configuration.relayURL, let tenantContext else {
                throw TLSError("--relay-public-key and --relay-url are required with an http:// upstream")
            }
            let tenant = self.tenant
            front = HTTPFront(keys: frontKeys, relayURL: relayURL, tenant: tenant, tenantContext: tenantContext,
                              app: (host, port), group: group, logger: logger,
                              handshakeTimeout: configuration.handshakeTimeout,
                              serves: { host in Self.matches(host: host, names: tenantNames) })
        } else {
            front = nil
        }
        state = NIOLockedValueBox(State(backoff: Backoff(base: configuration.reconnectBase, cap: configuration.reconnectMax)))
    }

    public func start() { dial() }

    /// Whether a browser's `:authority` host is one of the tenant certificate's names.
    func serves(host: String) -> Bool { Self.matches(host: host, names: tenantNames) }

    private static func matches(host: String, names: [String]) -> Bool {
        let host = host.lowercased()
        return names.contains { name in
            if name.hasPrefix("*.") {
                guard let dot = host.firstIndex(of: ".") else { return false }
                return host[host.index(after: dot)...] == name.dropFirst(2)
            }
            return name == host
        }
    }

    /// Graceful stop: no reconnects, GOAWAY on every connection, wait for open streams up
    /// to the grace period, then close what is left.
    public func shutdown() async {
        let sessions = state.withLockedValue { state -> [(session: RelaySession, channel: Channel)] in
            state.stopping = true
            return Array(state.sessions.values)
        }
        phase.advance(to: .draining)
        logger.info("agent draining", metadata: ["connections": "\(sessions.count)"])
        for entry in sessions { entry.session.drain(on: entry.channel.eventLoop) }
        let closed = EventLoopFuture.andAllComplete(sessions.map { $0.channel.closeFuture }, on: group.any())
        await DrainProgress.wait(for: closed, grace: configuration.gracePeriod, logger: logger) {
            var open = 0
            for entry in sessions {
                open += (try? await entry.channel.eventLoop.submit { entry.session.handler?.openStreamCount ?? 0 }.get()) ?? 0
            }
            return open
        }
        for entry in sessions { entry.channel.close(promise: nil) }
        await front?.shutdown()
        try? await group.shutdownGracefully()
        phase.advance(to: .stopped)
        logger.info("agent stopped")
    }

    // MARK: Dialling

    private func dial() {
        let id: Int? = state.withLockedValue { state in
            // Several paths ask for a dial (a GOAWAY, a failed dial's retry, a closed
            // connection's retry); after a relay restart two of them used to connect.
            guard !state.stopping, !state.dialing, !state.hasLiveSession else { return nil }
            state.dialing = true
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        let session = RelaySession(id: id, agent: self, logger: logger)
        let configuration = self.configuration
        let relayContext = self.relayContext
        let logger = self.logger
        ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: SocketTuning.agentConnectionWaterMark)
            .channelOption(SocketTuning.notSentLowWatermarkOption, value: SocketTuning.notSentLowWatermark)
            .channelOption(.recvAllocator, value: LinkReadAllocator())
            // One read per turn, as at the relay: NIO's pool keeps as many buffers as
            // reads per turn, so with one it keeps only the first, small one.
            .channelOption(.maxMessagesPerRead, value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = TLSHandler(connection: try TLSConnection(context: relayContext, serverName: configuration.relayHostname))
                    try channel.pipeline.syncOperations.addHandlers([
                        tls, TLSHandshakeGate(alpn: TunnelProtocol.alpn, onRefused: { reason in
                            let relay = "\(configuration.relayHost):\(configuration.relayPort)"
                            logger.warning("cannot connect to relay", metadata: [
                                "reason": "\(reason)",
                                "hint": "\(RelayDialHint.refused(reason, relay: relay, hostname: configuration.relayHostname))"])
                        }, onReady: { _, context in
                            // Roles reversed: the agent is the HTTP/2 server (wire contract v1, §2).
                            let handler = HTTP2ConnectionHandler(role: .server, settings: configuration.http2,
                                                                 eventLoop: context.eventLoop, delegate: session)
                            session.attach(handler)
                            try context.pipeline.syncOperations.addHandler(handler, position: .after(context.handler))
                            LinkSendBuffer.manage(context.channel)
                        }),
                    ])
                }
            }
            .connect(host: configuration.relayHost, port: configuration.relayPort)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let stopping = self.state.withLockedValue { state -> Bool in
                        state.dialing = false
                        if !state.stopping { state.sessions[id] = (session, channel) }
                        return state.stopping
                    }
                    guard !stopping else {
                        // Connected after shutdown began: it must not start taking browsers.
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in self.sessionClosed(id: id) }
                case .failure(let error):
                    self.state.withLockedValue { $0.dialing = false }
                    let relay = "\(configuration.relayHost):\(configuration.relayPort)"
                    logger.warning("\(RelayDialHint.unreachable(error, relay: relay))")
                    self.scheduleReconnect()
                }
            }
    }

    func sessionReady(_ session: RelaySession) {
        state.withLockedValue { $0.backoff.reset() }
        phase.advance(to: .ready)
    }

    /// The relay said GOAWAY: dial a new connection first (make-before-break); the old one
    /// keeps its streams until they end.
    func sessionDraining(_ session: RelaySession) {
        state.withLockedValue { _ = $0.draining.insert(session.id) }
        dial()
    }

    private func sessionClosed(id: Int) {
        let reconnect = state.withLockedValue { state -> Bool in
            state.sessions[id] = nil
            state.draining.remove(id)
            return !state.stopping && state.sessions.keys.allSatisfy { state.draining.contains($0) }
        }
        if reconnect { scheduleReconnect() }
    }

    private func scheduleReconnect() {
        let delay: Double? = state.withLockedValue { state in
            guard !state.stopping, !state.reconnectScheduled else { return nil }
            state.reconnectScheduled = true
            return state.backoff.next()
        }
        guard let delay else { return }
        logger.info("reconnecting", metadata: ["in": "\(String(format: "%.2f", delay))s"])
        group.any().scheduleTask(in: .fractionalSeconds(delay)) {
            self.state.withLockedValue { $0.reconnectScheduled = false }
            self.dial()
        }
    }
}
