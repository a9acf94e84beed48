import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelRelayWeb
import H2TunnelStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The relay service: the public TLS port (SNI routing) and the admin listener.
///
/// A swift-service-lifecycle `Service`: in a `ServiceGroup`, `run()` starts it (unless
/// `start()` already did) and drains it when the group shuts down gracefully.
public final class Relay: Service, Sendable {
    public let configuration: RelayConfiguration
    public let registry: AgentRegistry
    /// Users, tenants and grants (`--store`); opened by `start()`, closed by `shutdown()`.
    public let store: (any RelayStore)?
    /// starting → ready (both listeners bound) → draining (`shutdown()` began) → stopped.
    public let phase = ServicePhase()
    private let catalog: TenantCatalog?
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    /// Whether `shutdown()` also shuts `group` down: only when the relay made it itself.
    private let ownsGroup: Bool
    /// The public listener(s): closed first by a drain.
    private let channels = NIOLockedValueBox<[Channel]>([])
    /// The admin listener: closed last, so `/readyz` says "draining" for the whole drain.
    private let adminChannel = NIOLockedValueBox<Channel?>(nil)
    /// The relay's own site, made by `start()`.
    private let site = NIOLockedValueBox<RelaySite?>(nil)

    /// `group`: the event loops to run on; the caller shuts it down after `shutdown()`.
    /// Without one the relay makes its own (half the cores) and shuts it down itself.
    public init(configuration: RelayConfiguration, logger: Logger, group: MultiThreadedEventLoopGroup? = nil) {
        self.configuration = configuration
        self.logger = logger
        ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount / 2))
        self.group = group
        registry = AgentRegistry(maxConnectionsPerTenant: configuration.maxAgentConnectionsPerTenant,
                                 denied: configuration.agentDenied)
        let store = configuration.storePath.map { SQLiteRelayStore(path: $0, eventLoop: group.any(), logger: logger) }
        self.store = store
        catalog = store.map { TenantCatalog(store: $0, eventLoop: group.any(), logger: logger) }
    }

    /// Binds both listeners; returns their addresses (useful with port 0).
    public func start() async throws -> (public: SocketAddress, admin: SocketAddress?) {
        try await catalog?.start()
        let site = try await Self.makeSite(configuration: configuration, store: store, presence: registry, logger: logger)
        self.site.withLockedValue { $0 = site }
        let router = try PublicRouter(configuration: configuration, registry: registry, site: site, catalog: catalog,
                                      logger: logger)
        let timeout = configuration.clientHelloTimeout
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try SocketTuning.tuneTunnelledSocket(channel, budget: .of(channel.eventLoop))
                    try channel.pipeline.syncOperations.addHandler(ClientHelloSniffer(router: router, timeout: timeout))
                }
            }
        // Set once here, not on each accepted socket: Linux copies a listener's options to
        // the sockets it accepts (as NIO relies on for TCP_NODELAY), and five options per
        // socket through NIO cost ~5 % of the relay's instructions per new connection.
        for (option, value) in SocketTuning.keepAlive(idle: configuration.tcpKeepAlive) {
            _ = bootstrap.serverChannelOption(option, value: value)
        }
        let publicChannel = try await ListenError.naming("--listen", host: configuration.listenHost,
                                                         port: configuration.listenPort) {
            try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort).get()
        }
        channels.withLockedValue { $0.append(publicChannel) }

        var adminAddress: SocketAddress? = nil
        if let adminHost = configuration.adminHost {
            let routes = AdminHandler(registry: registry, phase: phase, store: store)
            let admin = try await ListenError.naming("--admin-listen", host: adminHost, port: configuration.adminPort) {
                try await AdminHTTPHandler.listen(group: group, host: adminHost, port: configuration.adminPort,
                                                  route: routes.respond)
            }
            adminChannel.withLockedValue { $0 = admin }
            adminAddress = admin.localAddress
        }
        phase.advance(to: .ready)
        return (publicChannel.localAddress!, adminAddress)
    }

    /// `Service`: starts (unless `start()` already did), serves until the group's graceful
    /// shutdown (or cancellation), then drains.
    public func run() async throws {
        if phase.current == .starting { _ = try await start() }
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Graceful stop: draining at once (`/readyz` says 503), no new connections, GOAWAY to
    /// every agent (each dials a new connection first, through the load balancer), wait for
    /// their open tunnels up to the grace period, then close what is left; the admin
    /// listener closes last. A second call returns at once.
    public func shutdown() async {
        guard phase.advance(to: .draining) else { return }
        let listeners = channels.withLockedValue { list in defer { list = [] }; return list }
        for channel in listeners { try? await channel.close() }
        let links = registry.all
        logger.info("relay draining", metadata: ["agents": "\(links.count)",
                                                 "grace": "\(configuration.gracePeriod.nanoseconds / 1_000_000_000)s"])
        for link in links { link.drain() }
        let all = EventLoopFuture.andAllComplete(links.map(\.closeFuture), on: group.any())
        let registry = self.registry
        await DrainProgress.wait(for: all, grace: configuration.gracePeriod, logger: logger) {
            registry.all.reduce(0) { $0 + $1.openStreams }
        }
        for link in registry.all { link.forceClose() }
        catalog?.stop()
        site.withLockedValue { $0 }?.shutdown()
        do {
            try await store?.close()
        } catch {
            logger.warning("store close failed", metadata: ["error": "\(error)"])
        }
        try? await adminChannel.withLockedValue { channel in defer { channel = nil }; return channel }?.close()
        if ownsGroup { try? await group.shutdownGracefully() }
        phase.advance(to: .stopped)
        logger.info("relay stopped")
    }
}

