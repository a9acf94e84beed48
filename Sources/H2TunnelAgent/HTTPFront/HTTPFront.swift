import Foundation
import H2TunnelCore
import H2TunnelTLS
import H2TunnelTickets
import HTTPTypes
import Logging
import NIOCore
import NIOPosix

/// The keys http:// mode needs, loaded once before the agent starts (JWTKit's key
/// collections are actors, hence async).
public struct HTTPFrontKeys: Sendable {
    let tickets: TicketVerifier
    let sessions: SessionKeys

    public static func load(relayPublicKeyPath: String, sessionLifetime: Double) async throws -> HTTPFrontKeys {
        let pem: String
        do {
            pem = try String(contentsOfFile: relayPublicKeyPath, encoding: .utf8)
        } catch {
            throw TLSError("cannot read --relay-public-key \(relayPublicKeyPath): \(error.localizedDescription)")
        }
        let tickets: TicketVerifier
        do {
            tickets = try await TicketVerifier(publicKeyPEM: pem)
        } catch {
            throw TLSError("--relay-public-key \(relayPublicKeyPath) is not an Ed25519 public key (PEM): \(error)")
        }
        return HTTPFrontKeys(tickets: tickets, sessions: await SessionKeys(lifetime: sessionLifetime))
    }
}

/// `http://` mode: the agent is the tenant's web front. Each tunnel stream is spliced,
/// as raw TLS bytes, onto one end of a local socket pair; the other end terminates the
/// browser's TLS (ALPN h2 or http/1.1) and serves HTTP (`FrontProtocolSwitch`). Both
/// ends live on the stream's event loop, so a stream never crosses threads, and every
/// piece (splice, TLS, HTTP/2, HTTP/1.1 + WebSocket) is one already tested alone; the
/// price is one local socket hop per byte, which a NIO Channel over the tunnel stream
/// itself would save.
final class HTTPFront: Sendable {
    let tickets: TicketVerifier
    let sessions: SessionKeys
    let replays = TicketReplayCache()
    let proxy: ReverseProxy
    let relayURL: String
    let tenant: String
    /// Read per browser: a reload (SIGHUP) changes the next handshake's certificate.
    private let certificates: AgentCertificates
    private let servesHost: @Sendable (String) -> Bool
    let appHost: String
    let appPort: Int
    let eventLoopGroup: EventLoopGroup
    /// The browser's TLS handshake on the socket pair must end by then (`--handshake-timeout`):
    /// `TLSHandler` closes the pair's end, and the splice resets the tunnel.
    let handshakeTimeout: TimeAmount

    init(keys: HTTPFrontKeys, relayURL: String, tenant: String, certificates: AgentCertificates,
         app: (host: String, port: Int), group: EventLoopGroup, logger: Logger,
         handshakeTimeout: TimeAmount, serves: @escaping @Sendable (String) -> Bool) {
        tickets = keys.tickets
        sessions = keys.sessions
        self.relayURL = relayURL.hasSuffix("/") ? String(relayURL.dropLast()) : relayURL
        self.tenant = tenant
        self.certificates = certificates
        eventLoopGroup = group
        self.handshakeTimeout = handshakeTimeout
        appHost = app.host
        appPort = app.port
        servesHost = serves
        proxy = ReverseProxy(host: app.host, port: app.port, group: group, logger: Self.withoutPayloads(logger))
    }

    func serves(_ host: String) -> Bool { servesHost(host) }

    /// `logger` at debug when it was at trace, for the front and the libraries it hands it
    /// to (Hummingbird's servers and WebSocket handler, AsyncHTTPClient). At trace those
    /// write what passes through them: the app's response heads with its `Set-Cookie`, body
    /// bytes, WebSocket frame payloads; a log never holds a cookie, at any level. The
    /// front's own lines are debug and above, so nothing of ours is lost.
    static func withoutPayloads(_ logger: Logger) -> Logger {
        var logger = logger
        logger.logLevel = max(logger.logLevel, .debug)
        return logger
    }

    /// The user of a valid session cookie; nil when there is none, or it is forged,
    /// tampered with or expired (all the same to the browser: sign in again).
    func sessionUser(_ headers: HTTPFields) async -> String? {
        let prefix = SessionKeys.cookieName + "="
        for value in headers[values: .cookie] {
            for pair in value.split(separator: ";") {
                let pair = pair.trimmingCharacters(in: .whitespaces)
                if pair.hasPrefix(prefix) { return await sessions.user(from: String(pair.dropFirst(prefix.count))) }
            }
        }
        return nil
    }

    /// The splice's end of a new socket pair, on `loop`; the other end already serves
    /// HTTP over the browser's TLS. `forwarded` is the tunnel stream's header; `logger`
    /// the tunnel's (with its `conn`).
    func open(on loop: EventLoop, forwarded: String, logger: Logger) -> EventLoopFuture<Channel> {
        let logger = Self.withoutPayloads(logger)
        let responder = FrontResponder(front: self, browserIP: ProxyHeaders.browserIP(fromForwarded: forwarded), logger: logger)
        guard let context = certificates.tenant else {
            return loop.makeFailedFuture(TLSError("http:// needs --tenant-cert and --tenant-key"))
        }
        let handshakeTimeout = handshakeTimeout
        return SocketPair.open(on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([
                    TLSHandler(connection: try TLSConnection(context: context), handshakeTimeout: handshakeTimeout),
                    FrontProtocolSwitch(front: self, responder: responder, logger: logger),
                ])
            }
        }
    }

    /// The app's WebSocket for a browser's upgrade request to `path`.
    func webSocketURL(path: String) -> String {
        let host = appHost.contains(":") ? "[\(appHost)]" : appHost
        return "ws://\(host):\(appPort)\(path)"
    }

    func shutdown() async { await proxy.shutdown() }
}
