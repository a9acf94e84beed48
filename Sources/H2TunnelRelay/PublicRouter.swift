import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelRelayWeb
import H2TunnelTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Decides, from the SNI alone, what a public connection is (docs/architecture.md "One public port"), and
/// builds its pipeline. Browsers are never asked for a client certificate, because the
/// TLS context is chosen before any TLS object exists.
final class PublicRouter: Sendable {
    let configuration: RelayConfiguration
    let registry: AgentRegistry
    let logger: Logger
    /// The relay's own site (sign-in, companies, tickets), served after TLS.
    let site: RelaySite
    /// With a store: the tenant ids it knows, to tell an unknown tenant from an offline one.
    let catalog: TenantCatalog?
    private let siteContext: TLSContext
    private let agentContext: TLSContext
    /// "browser refused" lines, rate-limited per reason.
    private let refusals: RefusalLog
    private let tunnelsPerAddress: TunnelsPerAddress
    /// `--proxy-protocol-from`: peers whose connections start with a PROXY header.
    let trustedProxies: TrustedProxies
    let proxyHeaderParser = ProxyHeaderParser()

    init(configuration: RelayConfiguration, registry: AgentRegistry, site: RelaySite, catalog: TenantCatalog? = nil,
         logger: Logger) throws {
        self.catalog = catalog
        self.configuration = configuration
        self.site = site
        self.registry = registry
        self.logger = logger
        trustedProxies = try TrustedProxies(configuration.proxyProtocolFrom)
        refusals = RefusalLog(logger: logger)
        tunnelsPerAddress = TunnelsPerAddress(limit: configuration.maxTunnelsPerAddress)
        siteContext = try TLSContext(TLSConfiguration(
            role: .server, certificateChainPath: configuration.certificatePath,
            privateKeyPath: configuration.privateKeyPath, alpnProtocols: ["h2", "http/1.1"]))
        var agentTLS = TLSConfiguration(
            role: .server, certificateChainPath: configuration.certificatePath,
            privateKeyPath: configuration.privateKeyPath, trustRootsPath: configuration.agentCAPath,
            alpnProtocols: [TunnelProtocol.alpn], requireALPN: true)
        agentTLS.keepsRecordBuffers = true   // one connection per agent, busy with every request
        agentContext = try TLSContext(agentTLS)
    }

    func route(_ hello: ClientHelloInfo, bytes: ByteBuffer, context: ChannelHandlerContext, sniffer: ClientHelloSniffer) {
        guard let name = hello.serverName else {
            sniffer.refuse(context: context, reason: "no-sni", alert: .unrecognizedName)
            return
        }
        let remote = HostPort.describe(sniffer.client)
        do {
            if name == configuration.hostname {
                let tls = TLSHandler(connection: try TLSConnection(context: siteContext))
                // The handshake has its own timeout (TLSHandler); then the site's HTTP/2 or
                // HTTP/1.1 channel closes a connection idle for `SiteSettings.idleTimeout`.
                let handler = RelaySiteHandler(site: site, client: sniffer.client, connectedPort: sniffer.frontend?.port,
                                               logger: sniffer.logger.logger)
                try replay(bytes, context: context, sniffer: sniffer, into: [tls, handler])
            } else if name == configuration.agentHostname {
                let tls = TLSHandler(connection: try TLSConnection(context: agentContext))
                let endpoint = AgentEndpoint.gate(tls: tls, registry: registry, settings: configuration.http2,
                                                  instance: configuration.instanceName, remote: remote, logger: sniffer.logger.logger)
                let options = context.channel.syncOptions
                try options?.setOption(.writeBufferWaterMark, value: SocketTuning.agentConnectionWaterMark)
                try options?.setOption(SocketTuning.notSentLowWatermarkOption, value: SocketTuning.notSentLowWatermark)
                try options?.setOption(.recvAllocator, value: LinkReadAllocator())
                try replay(bytes, context: context, sniffer: sniffer, into: [tls, endpoint])
            } else if let tenant = HostName.tenant(of: name, domain: configuration.tenantDomain) {
                // A plain close, not an alert: the count is per host, and the browser's other
                // tunnels carry on (it retries this one later like any refused connection).
                guard tunnelsPerAddress.admit(context.channel, address: sniffer.client) else {
                    sniffer.refuse(context: context, reason: "too-many-tunnels", alert: nil, detail: name)
                    return
                }
                try tunnel(tenant: tenant, host: name, bytes: bytes, context: context, sniffer: sniffer, remote: remote)
            } else {
                sniffer.refuse(context: context, reason: "unknown-host", alert: .unrecognizedName, detail: name)
            }
        } catch {
            sniffer.refuse(context: context, reason: "internal", alert: .internalError, detail: "\(error)")
        }
    }

    /// With a store, a tenant it does not know is refused as unknown (TLS alert
    /// unrecognized_name), whether or not an agent of that name is connected.
    private func tunnel(tenant: String, host: String, bytes: ByteBuffer, context: ChannelHandlerContext,
                        sniffer: ClientHelloSniffer, remote: String) throws {
        guard let catalog, !catalog.contains(tenant) else {
            try tunnel(knownTenant: tenant, host: host, bytes: bytes, context: context, sniffer: sniffer, remote: remote)
            return
        }
        // Not in the copy of the store: `relay tenant add` may have run since it was read.
        // A store that does not answer leaves routing to the live agents, as without one.
        resume(after: catalog.recheck(tenant, on: context.eventLoop), context: context, sniffer: sniffer) { result, context, sniffer in
            if case .success(false) = result {
                sniffer.refuse(context: context, reason: "unknown-tenant", alert: .unrecognizedName, detail: host)
                return
            }
            try self.tunnel(knownTenant: tenant, host: host, bytes: bytes, context: context, sniffer: sniffer, remote: remote)
        }
    }

    /// Goes on with a browser once `future` is done, on its loop: unless the browser left
    /// while it waited (no stream for a closed socket); an error thrown refuses it.
    private func resume<T: Sendable>(after future: EventLoopFuture<T>, context: ChannelHandlerContext, sniffer: ClientHelloSniffer,
                           _ body: @escaping @Sendable (Result<T, Error>, ChannelHandlerContext, ClientHelloSniffer) throws -> Void) {
        let bound = NIOLoopBound((context, sniffer), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (context, sniffer) = bound.value
            guard context.channel.isActive else { return }
            do {
                try body(result, context, sniffer)
            } catch {
                sniffer.refuse(context: context, reason: "internal", alert: .internalError, detail: "\(error)")
            }
        }
    }

    /// Opens a stream on the tenant's newest agent connection and splices the browser
    /// into it; the ClientHello already read goes out right after HEADERS (no extra RTT).
    private func tunnel(knownTenant tenant: String, host: String, bytes: ByteBuffer, context: ChannelHandlerContext,
                        sniffer: ClientHelloSniffer, remote: String) throws {
        if let link = registry.connection(forTenant: tenant) {
            try tunnel(through: link, host: host, bytes: bytes, context: context, sniffer: sniffer, remote: remote)
            return
        }
        // None now; if the tenant's spent connection is being replaced, the new one is a
        // round trip away (README wire contract §8): wait for it rather than refuse.
        resume(after: registry.connection(forTenant: tenant, waitingOn: context.eventLoop),
               context: context, sniffer: sniffer) { result, context, sniffer in
            guard case .success(let link?) = result else {
                sniffer.refuse(context: context, reason: "tenant-offline", alert: .internalError, detail: host)
                return
            }
            try self.tunnel(through: link, host: host, bytes: bytes, context: context, sniffer: sniffer, remote: remote)
        }
    }

    private func tunnel(through link: AgentLink, host: String, bytes: ByteBuffer, context: ChannelHandlerContext,
                        sniffer: ClientHelloSniffer, remote: String) throws {
        let channel = context.channel
        let splice = StreamSplice(streamLoop: link.eventLoop, channelLoop: channel.eventLoop)
        splice.connectionID = sniffer.id
        let logger = sniffer.logger
        let outcome = TunnelOutcome()
        splice.onResponse = { headers in
            guard headers[":status"] == "200" else {
                outcome.note("refused")
                logger.warning("browser refused", metadata: [
                    "reason": "agent-status-\(headers[":status"] ?? "none")", "remote": "\(remote)", "host": "\(host)"])
                return false
            }
            return true
        }
        // The ClientHello goes into the splice first, so the stream opens with it: HEADERS
        // and the first DATA leave in one TLS write, and the agent wakes once, not twice.
        splice.sendTimeout = configuration.sendTimeout
        if let quickAck = SocketTuning.quickAckOption {
            splice.optionsAfterFirstWrite = [(quickAck, 1)]
        }
        let sendTimedOut = NIOLockedValueBox(false)
        splice.onSendTimeout = {
            sendTimedOut.withLockedValue { $0 = true }
            logger.warning("tunnel reset: browser stopped reading", metadata: [
                "reason": "send timeout", "remote": "\(remote)", "host": "\(host)"])
        }
        // One access line per tunnel (issue 14, item 7): who, how much each way, how long,
        // and how it ended. The stream closes after both halves did, so its end is the end.
        let started = NIODeadline.now()
        splice.onFinished = { [unowned splice] code in
            let ended: String
            if sendTimedOut.withLockedValue({ $0 }) {
                ended = "send-timeout"
            } else if code == HTTP2ErrorCode.noError {
                ended = "fin"
            } else if splice.channelWasReset {
                ended = "reset-by-browser"
            } else {
                ended = "reset-by-agent"
            }
            RelayMetrics.tunnelClosed(outcome: outcome.resolve(ended), bytesUp: splice.bytesFromChannel,
                                      bytesDown: splice.bytesFromStream)
            let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
            logger.info("tunnel closed", metadata: [
                "tenant": "\(link.tenant)", "host": "\(host)", "remote": "\(remote)",
                "bytes_up": "\(splice.bytesFromChannel)", "bytes_down": "\(splice.bytesFromStream)",
                "duration": "\(String(format: "%.3f", seconds))s", "ended": "\(ended)",
                "code": "\(HTTP2ErrorCode.name(code))"])
        }
        splice.onPeerStoppedReading = { queued in
            logger.warning("tunnel reset: agent stopped reading", metadata: [
                "reason": "window shut for the send timeout", "queued": "\(queued)", "remote": "\(remote)", "host": "\(host)"])
        }
        try replay(bytes, context: context, sniffer: sniffer, into: [SpliceChannelHandler(splice: splice)])
        RelayMetrics.tunnelOpened()
        link.openTunnel(splice: splice, authority: host, browser: remote, conn: sniffer.id) { reason in
            logger.warning("browser refused", metadata: ["reason": "\(reason)", "remote": "\(remote)", "host": "\(host)"])
            // No stream, so no `onFinished`: the tunnel ends here.
            RelayMetrics.tunnelClosed(outcome: "refused", bytesUp: 0, bytesDown: 0)
            splice.abortStream(HTTP2ErrorCode.cancel)
            channel.eventLoop.execute {
                // A plain close after the alert: a reset could discard the alert unsent.
                channel.writeAndFlush(TLSAlert.internalError.record(allocator: channel.allocator)).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }
    }

    /// Installs `handlers` after the sniffer, gives them the bytes it held, and removes it.
    private func replay(_ bytes: ByteBuffer, context: ChannelHandlerContext, sniffer: ClientHelloSniffer,
                        into handlers: [ChannelHandler]) throws {
        try context.pipeline.syncOperations.addHandlers(handlers, position: .after(sniffer))
        context.fireChannelRead(NIOAny(bytes))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func logRefusal(reason: String, detail: String?, remote: SocketAddress?, conn: String) {
        var metadata: Logger.Metadata = ["reason": "\(reason)", "remote": "\(HostPort.describe(remote))", "conn": "\(conn)"]
        if let detail { metadata["detail"] = "\(detail)" }
        refusals.refused(reason: reason, metadata: metadata)
    }
}
