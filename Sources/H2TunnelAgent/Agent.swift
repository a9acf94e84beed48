import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The agent service: keeps one connection to the relay up (more while one drains),
/// reconnecting with capped exponential backoff and full jitter.
///
/// A swift-service-lifecycle `Service`: an app that embeds the agent puts it in its own
/// `ServiceGroup` and gets what `agent run` does (start, drain on graceful shutdown).
public final class Agent: Service, Sendable {
    public let configuration: AgentConfiguration
    /// The tenant id from our client certificate's URI SAN (what the relay will read).
    public let tenant: String
    /// starting → ready (first relay connection up) → draining (`shutdown()` began) → stopped.
    public let phase = ServicePhase()
    /// Relay connections, tunnels in flight, the last error: what `/status` reports.
    let record = AgentRecord()
    /// `/healthz`, `/readyz`, `/metrics`, `/status` (`startAdmin()`, Admin/).
    let admin = AgentAdminListener()
    /// Both TLS identities, swapped whole by `reloadCertificates()`.
    let certificates: AgentCertificates
    /// The browser-facing TLS context for the next handshake; nil in tls:// mode, where
    /// the app holds the key.
    var tenantContext: TLSContext? { certificates.tenant }
    /// http:// mode's web front.
    let front: HTTPFront?
    /// The upstream as an address when it is an IP literal (no resolver on the data path).
    let upstreamAddress: SocketAddress?
    private let tenantNames: [String]
    private let logger: Logger
    let group: MultiThreadedEventLoopGroup
    /// Whether `shutdown()` also shuts `group` down: only when the agent made it itself.
    private let ownsGroup: Bool

    private struct State {
        var backoff: Backoff
        var sessions: [Int: (session: RelaySession, channel: Channel)] = [:]
        var draining: Set<Int> = []
        var nextID = 0
        var started = false
        var stopping = false
        var dialing = false
        var reconnectScheduled = false

        /// A connection that is not draining: another dial would only duplicate it.
        var hasLiveSession: Bool { sessions.keys.contains { !draining.contains($0) } }
    }
    private let state: NIOLockedValueBox<State>

    /// `group`: the event loops to run on; the caller shuts it down after `shutdown()`.
    /// Without one the agent makes its own (one thread) and shuts it down itself.
    /// `frontKeys`: required with an http:// upstream (`HTTPFrontKeys.load`).
    public init(configuration: AgentConfiguration, logger: Logger,
                group: MultiThreadedEventLoopGroup? = nil, frontKeys: HTTPFrontKeys? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let certificates = try AgentCertificates(configuration: configuration)
        self.certificates = certificates
        let loaded = certificates.loaded
        tenant = loaded.tenantID
        upstreamAddress = try? SocketAddress(ipAddress: configuration.upstream.host, port: configuration.upstream.port)
        let tenantNames = (loaded.tenantDNSNames + configuration.tenantNames).map { $0.lowercased() }
        guard !tenantNames.isEmpty else {
            throw TLSError("no tenant names: give --tenant-cert (its DNS names) or --tenant-name")
        }
        self.tenantNames = tenantNames
        if case .http(let host, let port) = configuration.upstream {
            guard let frontKeys, let relayURL = configuration.relayURL, loaded.tenant != nil else {
                throw TLSError("--relay-public-key and --relay-url are required with an http:// upstream")
            }
            let tenant = self.tenant
            front = HTTPFront(keys: frontKeys, relayURL: relayURL, tenant: tenant, certificates: certificates,
                              app: (host, port), group: group, logger: logger,
                              handshakeTimeout: configuration.handshakeTimeout,
                              serves: { host in Self.matches(host: host, names: tenantNames) })
        } else {
            front = nil
        }
        state = NIOLockedValueBox(State(backoff: Backoff(base: configuration.reconnectBase, cap: configuration.reconnectMax)))
    }

    /// Starts dialling the relay; a second call does nothing.
    public func start() {
        let first = state.withLockedValue { state in defer { state.started = true }; return !state.started }
        if first { dial() }
    }

    /// `Service`: binds the admin listener and starts (unless `startAdmin()` and `start()`
    /// already did), serves until the group's graceful shutdown (or cancellation), then drains.
    public func run() async throws {
        _ = try await startAdmin()
        start()
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Reads `--cert/--key` and `--tenant-cert/--tenant-key` again (SIGHUP): the next
    /// browser handshake and the next relay connection use them, open tunnels and the
    /// relay connection carry on. A set that does not load (unreadable, key not for its
    /// certificate, tenant certificate not for this tenant) is refused and the previous
    /// one stays: one error line names the file.
    public func reloadCertificates() {
        do {
            let loaded = try certificates.reload()
            logger.info("certificates reloaded", metadata: [
                "cert_sha256": "\(loaded.relay.certificateSHA256 ?? "-")",
                "tenant_cert_sha256": "\(loaded.tenant?.certificateSHA256 ?? "-")",
            ])
        } catch {
            logger.error("certificates not reloaded; the previous ones stay", metadata: ["error": "\(error)"])
        }
    }

    /// Whether a browser's `:authority` host is one of the tenant certificate's names.
    func serves<Host: StringProtocol>(host: Host) -> Bool { Self.matches(host: host, names: tenantNames) }

    /// `host` (any case, a trailing dot or not) is one of `names` (lower case) or under one
    /// of their wildcards. Normalised as SNI is (`HostName.normalize`, ASCII in one pass):
    /// every tunnel asks this once, and `lowercased()` (Unicode case mapping) cost more
    /// than the rest of the check together.
    private static func matches<Host: StringProtocol>(host: Host, names: [String]) -> Bool {
        guard let host = HostName.normalize(host.utf8) else { return false }
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
        guard phase.advance(to: .draining) else { return }
        let sessions = state.withLockedValue { state -> [(session: RelaySession, channel: Channel)] in
            state.stopping = true
            return Array(state.sessions.values)
        }
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
        await admin.close()
        if ownsGroup { try? await group.shutdownGracefully() }
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
        // Taken per dial: after a reload the next connection shows the new certificate.
        let relayContext = certificates.relay
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
                            self.record.failed("cannot connect to relay: \(reason)")
                            logger.warning("cannot connect to relay", metadata: [
                                "reason": "\(reason)",
                                "hint": "\(RelayDialHint.refused(reason, relay: relay, hostname: configuration.relayHostname))"])
                        }, onReady: { _, context in
                            // Roles reversed: the agent is the HTTP/2 server (wire contract v1, §2).
                            let handler = HTTP2ConnectionHandler(role: .server, settings: configuration.http2,
                                                                 eventLoop: context.eventLoop, delegate: session)
                            session.attach(handler)
                            tls.carry(handler)
                            LinkSendBuffer.manage(context.channel)
                            AgentMetrics.uplinkPacing(nil)
                            LinkTuner.manage(context.channel, pacing: configuration.uplinkPacing,
                                             largestFrame: configuration.http2.maxFrameSize, paced: { cap in
                                AgentMetrics.uplinkPacing(cap)
                                logger.debug("uplink pacing", metadata: ["cap": "\(cap.map { "\($0) B/s" } ?? "off")"])
                            }) { frame in
                                handler.dataFrameLimit = frame
                                tls.pushAt = frame
                            }
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
                    let text = "\(RelayDialHint.unreachable(error, relay: relay))"
                    logger.warning("\(text)")
                    self.record.failed(text)
                    self.scheduleReconnect()
                }
            }
    }

    func sessionReady(_ session: RelaySession) {
        let channel = state.withLockedValue { state in
            state.backoff.reset()
            return state.sessions[session.id]?.channel
        }
        record.connected(session: session.id, address: channel?.remoteAddress)
        phase.advance(to: .ready)
    }

    /// The relay said GOAWAY: dial a new connection first (make-before-break); the old one
    /// keeps its streams until they end.
    func sessionDraining(_ session: RelaySession) {
        state.withLockedValue { _ = $0.draining.insert(session.id) }
        dial()
    }

    private func sessionClosed(id: Int) {
        record.disconnected(session: id)
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
        AgentMetrics.reconnect()
        logger.info("reconnecting", metadata: ["in": "\(String(format: "%.2f", delay))s"])
        group.any().scheduleTask(in: .fractionalSeconds(delay)) {
            self.state.withLockedValue { $0.reconnectScheduled = false }
            self.dial()
        }
    }
}
