import H2TunnelStore
import H2TunnelTickets
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore

/// The relay's own site on its hostname: sign-in, the user's companies, tickets.
///
/// The relay terminates TLS itself (its OpenSSL layer, ALPN `h2` and `http/1.1`) and
/// hands each connection here once the handshake is done; Hummingbird's HTTP/2 or
/// HTTP/1.1 channel then runs on the plaintext. No Hummingbird server or listener of
/// its own: the relay's SNI router owns the port.
public final class RelaySite: Sendable {
    /// Answers one request of a connection from `client`, logging with `logger`.
    typealias Respond = @Sendable (Request, consuming ResponseWriter, any Channel, _ client: SocketAddress?,
                                   _ connectedPort: Int?, Logger) async throws -> Void
    private let respond: Respond
    private let settings: SiteSettings
    private let logger: Logger
    /// Drops expired sessions from the store (the driver's tidy loop).
    private let tidy: Task<Void, Never>?

    /// The signed-in site. Sessions live in the store (`StoreSessionDriver`): a relay
    /// restart keeps everyone signed in, relays sharing a store share them, and removing
    /// a user or changing their password ends theirs.
    public init(store: any RelayStore, issuer: TicketIssuer, presence: any TenantPresence,
                settings: SiteSettings, logger: Logger) {
        let sessions = StoreSessionDriver(store: store, maxLifetime: settings.sessionLifetime, logger: logger)
        let router = SiteRouter.build(store: store, issuer: issuer, presence: presence, settings: settings,
                                      limiter: SignInRateLimiter(), sessions: sessions)
        self.settings = settings
        self.logger = logger
        respond = Self.respond(router.buildResponder())
        tidy = Task { try? await sessions.run() }
    }

    /// No store: every page says sign-in is not configured.
    public init(notConfigured settings: SiteSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        respond = Self.respond(SiteRouter.notConfigured(settings: settings).buildResponder())
        tidy = nil
    }

    /// Serves one TLS-terminated connection: HTTP/2 when ALPN chose `h2`, else HTTP/1.1
    /// (RFC 7301). Call on the channel's event loop, right when the handshake completed,
    /// so the handlers are in place before the first plaintext is read.
    /// `client`: the browser's address when it is not the TCP peer's (a trusted load
    /// balancer's PROXY header named it), for the sign-in limits and log lines;
    /// `connectedPort`: the port the browser connected to when that is the balancer's,
    /// for links (unless `--public-port` says); `logger`: the connection's own (with its
    /// `conn` id).
    public func serve(channel: any Channel, alpn: String?, client: SocketAddress? = nil, connectedPort: Int? = nil,
                      logger: Logger? = nil) {
        let logger = logger ?? self.logger
        let respond = self.respond
        let client = client ?? channel.remoteAddress
        let connectedPort = connectedPort ?? channel.localAddress?.port
        let responder: HTTPChannelHandler.Responder = { request, writer, channel in
            try await respond(request, writer, channel, client, connectedPort, logger)
        }
        if alpn == "h2" {
            do {
                try channel.pipeline.syncOperations.addHandlers([
                    IdleStateHandler(readTimeout: TimeAmount(settings.silentPeerTimeout)), CloseWhenQuietHandler()])
            } catch {
                Self.refuse(channel, error, logger)
                return
            }
            let http2 = HTTP2Channel(responder: responder, configuration: .init(idleTimeout: settings.idleTimeout))
            http2.setup(channel: channel, logger: logger).whenComplete { result in
                switch result {
                case .success(let value): Task { await http2.handle(value: value, logger: logger) }
                case .failure(let error): Self.refuse(channel, error, logger)
                }
            }
        } else {
            let http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: TimeAmount(settings.idleTimeout)))
            http1.setup(channel: channel, logger: logger).whenComplete { result in
                switch result {
                case .success(let value): Task { await http1.handle(value: value, logger: logger) }
                case .failure(let error): Self.refuse(channel, error, logger)
                }
            }
        }
    }

    /// Stops the session tidy loop (relay shutdown).
    public func shutdown() {
        tidy?.cancel()
    }

    private static func refuse(_ channel: any Channel, _ error: any Error, _ logger: Logger) {
        logger.warning("site connection refused", metadata: ["error": "\(error)"])
        channel.close(promise: nil)
    }

    /// Router → what Hummingbird's channels call per request (as `Application` does,
    /// without its server), given the connection's client address and logger.
    private static func respond(_ router: some HTTPResponder<SiteRequestContext>) -> Respond {
        { request, writer, channel, client, connectedPort, logger in
            let context = SiteRequestContext(source: .init(channel: channel, logger: logger), client: client,
                                             connectedPort: connectedPort)
            var response: Response
            do {
                response = try await router.respond(to: request, context: context)
            } catch {
                logger.error("site request failed", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            try await writer.write(response: response.head, body: response.body)
        }
    }
}
