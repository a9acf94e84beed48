import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOCore

/// Sits above TLS on a connection to the agent endpoint until the handshake is done:
/// checks ALPN and the tenant in the client certificate, then hands the connection to
/// an HTTP/2 client session and steps aside.
final class AgentEndpointHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let registry: AgentRegistry
    private let settings: HTTP2Settings
    private let logger: Logger
    private let remote: String
    private var done = false

    init(registry: AgentRegistry, settings: HTTP2Settings, remote: String, logger: Logger) {
        self.registry = registry
        self.settings = settings
        self.remote = remote
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        done = true
        guard handshake.alpn == TunnelProtocol.alpn else {
            refuse(context: context, reason: "ALPN h2 not negotiated")
            return
        }
        guard let tenant = Self.tenant(of: handshake.peer) else {
            refuse(context: context, reason: "no \(TunnelProtocol.tenantURIPrefix)<id> URI in the certificate")
            return
        }
        let link = AgentLink(id: registry.makeID(), tenant: tenant, remote: remote,
                             eventLoop: context.eventLoop, registry: registry, logger: logger)
        let handler = HTTP2ConnectionHandler(role: .client, settings: settings, eventLoop: context.eventLoop, delegate: link)
        link.handler = handler
        do {
            try handler.takeOver(from: context)
        } catch {
            refuse(context: context, reason: "pipeline: \(error)")
        }
    }

    /// A TLS failure before the handshake finished: a certificate not from the agent CA,
    /// no certificate, an expired one.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done {
            done = true
            logger.warning("agent refused", metadata: ["reason": "\(error)", "remote": "\(remote)"])
        }
        context.close(promise: nil)
    }

    private func refuse(context: ChannelHandlerContext, reason: String) {
        logger.warning("agent refused", metadata: ["reason": "\(reason)", "remote": "\(remote)"])
        context.close(promise: nil)
    }

    /// The tenant id from the URI SAN `urn:h2tunnel:tenant:<id>`; exactly one must be present.
    static func tenant(of names: CertificateNames?) -> String? {
        let ids = (names?.uris ?? []).filter { $0.hasPrefix(TunnelProtocol.tenantURIPrefix) }
            .map { String($0.dropFirst(TunnelProtocol.tenantURIPrefix.count)) }
        guard ids.count == 1, let id = HostName.normalize(ids[0]), !id.contains(".") else { return nil }
        return id
    }
}
