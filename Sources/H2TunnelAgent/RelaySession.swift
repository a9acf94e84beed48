import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import Logging
import NIOCore
import NIOPosix

/// One connection to the relay, as the agent holds it: the agent is the HTTP/2 server
/// (roles reversed, wire contract v1 §2) and every stream is one browser connection.
final class RelaySession: HTTP2ConnectionDelegate, @unchecked Sendable {
    let id: Int
    private let agent: Agent
    private let logger: Logger
    /// Touched on the connection's event loop only.
    private(set) var handler: HTTP2ConnectionHandler?
    private(set) var wasReady = false
    /// The agent is stopping while this connection was still in its handshake.
    private var drainWhenReady = false
    /// The relay instance's `--instance-name`, once a stream told it (`learnInstance`).
    private var instance: String?
    /// `upstreamBootstrap(on:)`'s, once made; on the connection's loop only.
    private var dialler: ClientBootstrap?

    init(id: Int, agent: Agent, logger: Logger) {
        self.id = id
        self.agent = agent
        var logger = logger
        logger[metadataKey: "session"] = "\(id)"
        self.logger = logger
    }

    func attach(_ handler: HTTP2ConnectionHandler) { self.handler = handler }

    /// GOAWAY, now or, for a connection still in its TLS handshake, as soon as it is
    /// ready: it must not start taking browsers while the agent stops.
    func drain(on loop: EventLoop) {
        loop.execute {
            if let handler = self.handler, self.wasReady {
                handler.drain(closingIdleStreams: true)
            } else {
                self.drainWhenReady = true
            }
        }
    }

    // MARK: HTTP2ConnectionDelegate

    func connectionDidBecomeReady(_ connection: HTTP2ConnectionHandler) {
        wasReady = true
        if drainWhenReady {
            connection.drain(closingIdleStreams: true)
            return
        }
        agent.sessionReady(self)
        logger.info("agent connected", metadata: ["relay": "\(agent.configuration.relayHost):\(agent.configuration.relayPort)",
                                                  "tenant": "\(agent.tenant)"])
    }

    func connection(_ connection: HTTP2ConnectionHandler, didReceiveRequest stream: HTTP2Stream) {
        let headers = stream.headers
        learnInstance(from: headers)
        if headers[":method"] == "GET", headers[":path"] == TunnelProtocol.helloPath {
            // The relay's hello (`TunnelProtocol.helloPath`): no browser, no tunnel counted.
            try? stream.respond(status: 204, withBody: false)
            return
        }
        agent.record.tunnelOpened()
        guard headers[":method"] == "CONNECT", headers[":protocol"] == TunnelProtocol.rawTLSToken else {
            refuse(stream, status: 400, reason: "not an \(TunnelProtocol.rawTLSToken) CONNECT")
            return
        }
        let authority = headers[":authority"] ?? ""
        let host = authority[..<(authority.utf8.firstIndex(of: UInt8(ascii: ":")) ?? authority.endIndex)]
        guard agent.serves(host: host) else {
            // RFC 9110 §15.5.20: this agent's certificate is not for that name.
            refuse(stream, status: 421, reason: "not this tenant: \(host)")
            return
        }
        openUpstream(for: stream, browser: headers["forwarded"] ?? "", connection: connection)
    }

    func connectionDidReceiveGoAway(_ connection: HTTP2ConnectionHandler, errorCode: UInt32) {
        logger.info("relay draining", metadata: ["code": "\(HTTP2ErrorCode.name(errorCode))"])
        agent.sessionDraining(self)
    }

    func connection(_ connection: HTTP2ConnectionHandler, willResetStalledStream stream: HTTP2Stream, heldBytes: Int) {
        logger(for: stream).warning("tunnel reset: app stopped reading", metadata: [
            "stream": "\(stream.id)", "held": "\(heldBytes)",
            "reason": "\(connection.stallResetReason)",
        ])
    }

    func connectionDidClose(_ connection: HTTP2ConnectionHandler, reason: String?) {
        if !wasReady, let reason {
            // Closed before the relay's SETTINGS: whatever answered is not its agent endpoint
            // (e.g. --relay-hostname names the relay's site, which speaks HTTP/2 as a server).
            let configuration = agent.configuration
            agent.record.failed("cannot connect to relay: \(reason)")
            logger.warning("cannot connect to relay", metadata: [
                "reason": "\(reason)",
                "hint": "\(RelayDialHint.refused(reason, relay: "\(configuration.relayHost):\(configuration.relayPort)", hostname: configuration.relayHostname))"])
        } else {
            if let reason { agent.record.failed("relay connection closed: \(reason)") }
            logger.info("relay connection closed", metadata: ["reason": "\(reason ?? "drained")"])
        }
        handler = nil
    }

    // MARK: Streams

    /// The relay instance's name from a stream's `h2tunnel-relay-instance` (the hello's, else
    /// a CONNECT's), recorded once per connection; a name that is not a short printable
    /// token is ignored, with a debug line, so it never reaches `/status` or a log line.
    private func learnInstance(from headers: HTTP2Headers) {
        guard instance == nil, let name = headers[TunnelProtocol.relayInstanceHeader] else { return }
        guard RelayInstanceName.isValid(name) else {
            logger.debug("relay instance ignored", metadata: ["reason": "not 1 to \(RelayInstanceName.maxLength) of A-Z a-z 0-9 . _ -",
                                                              "length": "\(name.utf8.count)"])
            return
        }
        instance = name
        agent.record.learned(instance: name, session: id)
        logger.info("relay instance known", metadata: ["relay_instance": "\(name)"])
    }

    /// This connection's logger with the relay's id of the stream's browser connection
    /// (`conn`, from the CONNECT's `h2tunnel-conn`), so one id finds its lines at both ends.
    private func logger(for stream: HTTP2Stream) -> ConnectionLogger {
        ConnectionLogger(logger, conn: stream.headers[TunnelProtocol.connectionIDHeader])
    }

    private func refuse(_ stream: HTTP2Stream, status: Int, reason: String) {
        logger(for: stream).warning("stream refused", metadata: ["stream": "\(stream.id)", "status": "\(status)", "reason": "\(reason)"])
        agent.record.tunnelClosed(outcome: "refused", bytesUp: 0, bytesDown: 0)
        try? stream.respond(status: status, headers: [("h2tunnel-error", reason)], withBody: false)
    }

    /// A ClientHello and then silence would hold this stream and the TLS state for good:
    /// one timer per tunnel, for the handshake's length only. It blames the browser only:
    /// while our own handshake flight is still held by flow control (the connection's
    /// window spent by stalled readers), the browser has nothing to answer yet, so the
    /// deadline starts again.
    private func armHandshakeDeadline(stream: HTTP2Stream, terminator: TLSTerminator, loop: EventLoop, browser: String,
                                      outcome: TunnelOutcome) {
        let logger = self.logger(for: stream)
        let timeout = agent.configuration.handshakeTimeout
        loop.assumeIsolated().scheduleTask(in: timeout) {
            guard !stream.isClosed, !terminator.isHandshakeComplete else { return }
            if stream.hasQueuedOutput {
                self.armHandshakeDeadline(stream: stream, terminator: terminator, loop: loop, browser: browser, outcome: outcome)
                return
            }
            outcome.note("handshake-timeout")
            AgentMetrics.handshakeTimeout(mode: "tcp")
            logger.info("tunnel reset: TLS handshake timed out", metadata: [
                "mode": "tcp", "stream": "\(stream.id)", "browser": "\(browser)"])
            stream.reset(HTTP2ErrorCode.cancel)
        }
    }

    /// The app's dialler for this connection's loop (`loop` is always the connection's),
    /// made once: a bootstrap built per connect copied its option list on every browser.
    private func upstreamBootstrap(on loop: EventLoop) -> ClientBootstrap {
        if let bootstrap = dialler { return bootstrap }
        let bootstrap = SocketTuning.appDialler(on: loop, connectTimeout: agent.configuration.upstreamConnectTimeout,
                                                keepAliveIdle: agent.configuration.tcpKeepAlive)
        dialler = bootstrap
        return bootstrap
    }

    /// Connects to the app on this connection's own event loop, so a stream never crosses
    /// threads; the browser's first bytes wait in the splice until then.
    private func openUpstream(for stream: HTTP2Stream, browser: String, connection: HTTP2ConnectionHandler) {
        let loop = connection.eventLoop
        let upstream = agent.configuration.upstream
        let transform: SpliceTransform?
        do {
            if case .tcp = upstream, let context = agent.tenantContext {
                transform = try TLSTerminator(context: context)
            } else {
                transform = nil
            }
        } catch {
            refuse(stream, status: 500, reason: "TLS: \(error)")
            return
        }
        let splice = StreamSplice(streamLoop: loop, channelLoop: loop, transform: transform)
        // Counted once, at the stream's close: outcome and bytes (nothing per read).
        let outcome = TunnelOutcome()
        splice.onFinished = { [record = agent.record, unowned splice] code in
            let ended = code == HTTP2ErrorCode.noError ? "fin" : splice.channelWasReset ? "reset-by-app" : "reset-by-relay"
            record.tunnelClosed(outcome: outcome.resolve(ended), bytesUp: splice.bytesFromStream, bytesDown: splice.bytesFromChannel)
        }
        let logger = self.logger(for: stream)
        splice.sendTimeout = agent.configuration.sendTimeout
        splice.onSendTimeout = { [logger, streamID = stream.id] in
            outcome.note("send-timeout")
            logger.warning("tunnel reset: app stopped reading", metadata: [
                "reason": "send timeout", "stream": "\(streamID)", "browser": "\(browser)"])
        }
        splice.idleTimeout = agent.configuration.idleTimeout
        splice.onIdleTimeout = { [logger, streamID = stream.id] in
            outcome.note("idle")
            logger.info("tunnel reset: idle", metadata: ["stream": "\(streamID)", "browser": "\(browser)"])
        }
        splice.attach(stream: stream)
        let streamID = stream.id
        if let terminator = transform as? TLSTerminator {
            armHandshakeDeadline(stream: stream, terminator: terminator, loop: loop, browser: browser, outcome: outcome)
        }
        // An IP literal is dialled directly: NIO's name path runs getaddrinfo on another
        // thread, a detour on every new browser connection.
        // http:// mode: the "upstream" is the agent's own web front, over a socket pair.
        let connecting = agent.front.map { $0.open(on: loop, forwarded: browser, logger: logger.logger) }
            ?? agent.upstreamAddress.map { upstreamBootstrap(on: loop).connect(to: $0) }
            ?? upstreamBootstrap(on: loop).connect(host: upstream.host, port: upstream.port)
        /// Starts the splice on the upstream's channel (the app's, or the agent's own end
        /// of a socket pair).
        @Sendable func attach(_ channel: Channel) {
            guard !stream.isClosed else {
                channel.close(promise: nil)
                return
            }
            do {
                // With the ClientHello on its way upstream, the 200 waits for the
                // ServerHello and leaves with it: one record, one relay wake-up.
                if splice.holdsBytesForChannel {
                    try stream.respondWithFirstData(status: 200)
                } else {
                    try stream.respond(status: 200, withBody: true)
                }
                guard splice.wantsChannel else {
                    // The browser's TLS failed first: its alert leaves behind the 200.
                    channel.close(promise: nil)
                    connection.flush()
                    return
                }
                try channel.pipeline.syncOperations.addHandler(SpliceChannelHandler(splice: splice))
                try channel.syncOptions?.setOption(.autoRead, value: true)
                connection.flush()
                logger.debug("tunnel open", metadata: ["stream": "\(streamID)", "browser": "\(browser)"])
            } catch {
                channel.close(promise: nil)
                stream.reset(HTTP2ErrorCode.internalError)
            }
        }
        @Sendable func unreachable() {
            try? stream.respond(status: 502, headers: [("h2tunnel-error", "upstream unreachable")], withBody: false)
        }
        connecting
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    attach(channel)
                case .failure(let error):
                    outcome.note("upstream-unreachable")
                    logger.warning("upstream unreachable", metadata: ["stream": "\(streamID)", "error": "\(error)"])
                    guard case .tcp = upstream else {
                        unreachable()
                        return
                    }
                    // The agent holds the browser's TLS here: it can say why in a page.
                    AppDownServer.open(on: loop, logger: logger.logger).whenComplete { result in
                        switch result {
                        case .success(let channel): attach(channel)
                        case .failure: unreachable()
                        }
                    }
                }
            }
    }
}
