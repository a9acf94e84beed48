import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOCore

/// The agent endpoint after TLS: the tenant comes from the client certificate, and the
/// relay becomes the HTTP/2 client of the connection (wire contract v1, §1–2).
enum AgentEndpoint {
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// What sits above TLS on a connection to the agent endpoint until the handshake is done;
    /// then `tls` carries the connection's HTTP/2.
    static func gate(tls: TLSHandler, registry: AgentRegistry, settings: HTTP2Settings, instance: String, remote: String,
                     logger: Logger) -> TLSHandshakeGate {
        let started = NIODeadline.now()
        return TLSHandshakeGate(alpn: TunnelProtocol.alpn, onRefused: { reason in
            // A certificate not from the agent CA, none at all, an expired one, no ALPN h2.
            var metadata: Logger.Metadata = ["reason": "\(reason)", "remote": "\(remote)"]
            if reason.contains("certificate verify failed") {
                metadata["hint"] = "this agent's certificate is not signed by --agent-ca (or has expired): give the agent one from that CA, or add its CA to --agent-ca"
            }
            logger.warning("agent refused", metadata: metadata)
        }, onReady: { handshake, context in
            RelayMetrics.tlsHandshake(endpoint: "agent", started: started)
            guard let tenant = tenant(of: handshake.peer) else {
                throw Refusal(description: "no \(TunnelProtocol.tenantURIPrefix)<id> URI in the certificate")
            }
            let fingerprint = handshake.peerSHA256 ?? ""
            if registry.isDenied(fingerprint) {
                logger.warning("agent refused", metadata: [
                    "reason": "denied", "fingerprint": "\(fingerprint)", "tenant": "\(tenant)", "remote": "\(remote)",
                ])
                context.close(promise: nil)
                return
            }
            let link: AgentLink
            switch registry.admit(tenant: tenant, {
                AgentLink(id: registry.makeID(), tenant: tenant, remote: remote, fingerprint: fingerprint, instance: instance,
                          eventLoop: context.eventLoop, registry: registry, logger: logger)
            }) {
            case .success(let admitted):
                link = admitted
            case .failure(let full):
                logger.warning("agent refused", metadata: [
                    "reason": "too-many-connections", "tenant": "\(tenant)", "count": "\(full.count)",
                    "max": "\(registry.maxConnectionsPerTenant)", "fingerprint": "\(fingerprint)", "remote": "\(remote)",
                ])
                context.close(promise: nil)
                return
            }
            let handler = HTTP2ConnectionHandler(role: .client, settings: settings, eventLoop: context.eventLoop, delegate: link)
            link.handler = handler
            tls.carry(handler)
            LinkSendBuffer.manage(context.channel)
            // Uploads to the office are not paced (its downlink is seldom the scarce side);
            // their frames and unsent bytes follow the link as the agent's do.
            LinkTuner.manage(context.channel, pacing: false, largestFrame: settings.maxFrameSize) { frame in
                handler.dataFrameLimit = frame
                tls.pushAt = frame
            }
        })
    }

    /// The tenant id from the URI SAN `urn:h2tunnel:tenant:<id>`; exactly one must be present.
    static func tenant(of names: CertificateNames?) -> String? {
        let ids = (names?.uris ?? []).filter { $0.hasPrefix(TunnelProtocol.tenantURIPrefix) }
            .map { String($0.dropFirst(TunnelProtocol.tenantURIPrefix.count)) }
        guard ids.count == 1, let id = HostName.normalize(ids[0]), !id.contains(".") else { return nil }
        return id
    }
}
