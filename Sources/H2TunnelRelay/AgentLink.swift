import Foundation
import H2TunnelCore
import H2TunnelHTTP2
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One agent's connection as the relay holds it: the relay is its HTTP/2 client and
/// opens one extended CONNECT stream per browser connection (wire contract v1, §2–3).
public final class AgentLink: HTTP2ConnectionDelegate, @unchecked Sendable {
    public let id: Int
    public let tenant: String
    public let remote: String
    /// SHA-256 of the agent's client certificate (`CertificateFingerprint`).
    public let fingerprint: String
    /// This relay's `--instance-name`, sent on every stream (`TunnelProtocol.relayInstanceHeader`).
    public let instance: String
    public let connectedSince = Date()
    public let eventLoop: EventLoop
    public var closeFuture: EventLoopFuture<Void> { closed.futureResult }

    var handler: HTTP2ConnectionHandler?   // eventLoop only
    private let registry: AgentRegistry
    private let logger: Logger
    private let closed: EventLoopPromise<Void>
    /// Read from other loops (routing, admin), written on `eventLoop`.
    private let shared = NIOLockedValueBox((ready: false, healthy: false, draining: false, openStreams: 0,
                                            stalledResets: 0, roundTrip: TimeAmount?.none))

    init(id: Int, tenant: String, remote: String, fingerprint: String, instance: String, eventLoop: EventLoop,
         registry: AgentRegistry, logger: Logger) {
        self.id = id
        self.tenant = tenant
        self.remote = remote
        self.fingerprint = fingerprint
        self.instance = instance
        self.eventLoop = eventLoop
        self.registry = registry
        self.closed = eventLoop.makePromise()
        var logger = logger
        logger[metadataKey: "tenant"] = "\(tenant)"
        logger[metadataKey: "connection"] = "\(id)"
        self.logger = logger
    }

    public var isHealthy: Bool { shared.withLockedValue { $0.healthy } }
    /// Its HTTP/2 came up (SETTINGS with extended CONNECT): it has served, or serves, tunnels.
    /// Until then it is only admitted (`AgentRegistry.admit`).
    public var isReady: Bool { shared.withLockedValue { $0.ready } }
    /// GOAWAY sent or received: finishing its streams, taking no new ones.
    public var isDraining: Bool { shared.withLockedValue { $0.draining } }
    public var openStreams: Int { shared.withLockedValue { $0.openStreams } }
    /// Tunnels reset because their browser stopped reading while the connection was over
    /// its receive budget (`HTTP2Settings.stallTimeout`).
    public var stalledResets: Int { shared.withLockedValue { $0.stalledResets } }
    /// The smallest PING round trip to the agent: the path's own delay, which sizes the
    /// stream windows. nil before the first PING came back.
    public var roundTrip: TimeAmount? { shared.withLockedValue { $0.roundTrip } }

    /// Opens the tunnel stream for one browser connection, on this link's loop.
    /// `onFailure` runs (on this loop) when no stream could be opened.
    /// `conn`: the browser connection's id, sent along so the agent logs it too.
    func openTunnel(splice: StreamSplice, authority: String, browser: String, conn: String,
                    onFailure: @escaping @Sendable (String) -> Void) {
        // On this loop already (always, with one relay thread): open now, not a tick later.
        if eventLoop.inEventLoop {
            open(splice: splice, authority: authority, browser: browser, conn: conn, onFailure: onFailure)
        } else {
            eventLoop.execute { self.open(splice: splice, authority: authority, browser: browser, conn: conn, onFailure: onFailure) }
        }
    }

    private func open(splice: StreamSplice, authority: String, browser: String, conn: String,
                      onFailure: @escaping @Sendable (String) -> Void) {
        guard let handler, handler.canOpenStream else {
            onFailure(handler?.isDraining == true ? "agent-draining" : "agent-busy")
            return
        }
        let headers = [
            (":method", "CONNECT"),
            (":protocol", TunnelProtocol.rawTLSToken),
            (":scheme", "https"),
            (":authority", "\(authority):443"),
            (":path", "/"),
            ("forwarded", "for=\"\(browser)\""),
            (TunnelProtocol.connectionIDHeader, conn),
            (TunnelProtocol.relayInstanceHeader, instance),
            // RFC 9218 §4: every tunnel is incremental at the default urgency, so the
            // agent's scheduler interleaves them round-robin instead of finishing the
            // oldest stream first: a bulk download cannot starve a page load.
            ("priority", "u=3, i"),
        ]
        // Counted before the stream exists: it can close inside `flush` (a GOAWAY read with
        // the SETTINGS, a failed write), and that close must find the decrement in place.
        shared.withLockedValue { $0.openStreams += 1 }
        splice.onStreamClosed = { [self] _ in self.shared.withLockedValue { $0.openStreams -= 1 } }
        do {
            let stream = try handler.openStream(headers: headers, delegate: splice)
            splice.attach(stream: stream)
            handler.flush()
            if handler.isSpent {
                // GOAWAY: the agent dials a new connection at once (make-before-break) and
                // this one finishes its streams. Without it, a connection whose stream IDs
                // ran out would refuse every browser until the agent reconnected.
                logger.info("agent connection replaced", metadata: ["reason": "lifetime streams reached", "goaway": "sent"])
                shared.withLockedValue { $0.healthy = false; $0.draining = true }
                registry.expectReplacement(of: self)
                handler.drain()
            }
        } catch {
            splice.onStreamClosed = nil
            shared.withLockedValue { $0.openStreams -= 1 }
            onFailure("open-failed")
        }
    }

    /// Relay shutdown: GOAWAY, idle tunnels closed at once, then the connection closes
    /// once its busy streams are done.
    func drain() {
        eventLoop.execute {
            self.shared.withLockedValue { $0.healthy = false; $0.draining = true }
            self.logger.info("GOAWAY sent", metadata: ["reason": "relay shutting down"])
            self.handler?.drain(closingIdleStreams: true)
        }
    }

    /// Its certificate was denied (`--agent-deny-file` reloaded): closed now, so its
    /// tunnels are reset rather than finished.
    func cutOff() {
        eventLoop.execute {
            self.shared.withLockedValue { $0.healthy = false }
            self.logger.warning("agent denied", metadata: ["fingerprint": "\(self.fingerprint)", "remote": "\(self.remote)"])
            self.handler?.close(reason: "agent certificate denied")
        }
    }

    func forceClose() {
        eventLoop.execute { self.handler?.close(reason: "grace period over") }
    }

    // MARK: HTTP2ConnectionDelegate

    public func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) {
        // nghttp2's client does not check this itself (docs/interop-notes.md): without it every
        // CONNECT would be answered with a PROTOCOL_ERROR reset.
        guard connection.acceptsExtendedConnect else {
            logger.warning("agent refused", metadata: ["reason": "no SETTINGS_ENABLE_CONNECT_PROTOCOL", "remote": "\(remote)"])
            connection.close(reason: "agent does not allow extended CONNECT")
            return
        }
        shared.withLockedValue { $0.ready = true; $0.healthy = true }
        RelayMetrics.agentConnection(tenant: tenant, up: true)
        let others = registry.add(self)
        logger.info("agent connected", metadata: ["remote": "\(remote)", "fingerprint": "\(fingerprint)"])
        InstanceHello.send(on: connection, instance: instance, logger: logger)
        if !others.isEmpty {
            // Two certificates serving one tenant: a second deployment, a rotation under
            // way, or a leaked certificate; the operator must be able to tell which.
            logger.warning("agent certificates differ for one tenant", metadata: [
                "fingerprint": "\(fingerprint)", "remote": "\(remote)",
                "other_fingerprints": "\(others.map(\.fingerprint).joined(separator: ","))",
                "other_remotes": "\(others.map(\.remote).joined(separator: ","))",
            ])
        }
    }

    public func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        stream.reset(HTTP2ErrorCode.refusedStream)   // only the relay opens streams
    }

    public func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {
        shared.withLockedValue { $0.healthy = false; $0.draining = true }
        logger.info("agent draining", metadata: ["code": "\(HTTP2ErrorCode.name(errorCode))"])
    }

    public func connection(_ connection: HTTP2ConnectionHandler, willResetStalledStream stream: HTTP2Stream, heldBytes: Int) {
        shared.withLockedValue { $0.stalledResets += 1 }
        // `conn` names the browser connection, not this agent connection: the line is about it.
        logger.warning("tunnel reset: browser stopped reading", metadata: [
            "stream": "\(stream.id)", "held": "\(heldBytes)",
            "reason": "\(connection.stallResetReason)",
            "conn": "\((stream.delegate as? StreamSplice)?.connectionID ?? "unknown")",
        ])
    }

    public func connection(_ connection: HTTP2ConnectionHandler, didMeasureRoundTrip smallest: TimeAmount) {
        shared.withLockedValue { $0.roundTrip = smallest }
        RelayMetrics.pingRoundTrip(tenant: tenant, smallest)
    }

    public func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {
        if shared.withLockedValue({ state in defer { state.healthy = false }; return state.ready }) {
            RelayMetrics.agentConnection(tenant: tenant, up: false)
        }
        registry.remove(self)
        handler = nil
        logger.info("agent disconnected", metadata: ["reason": "\(reason ?? "drained")"])
        closed.succeed(())
    }
}
