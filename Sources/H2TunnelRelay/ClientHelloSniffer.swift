import H2TunnelCore
import H2TunnelHTTP2
import Logging
import NIOCore

/// The first handler of every public connection: reads the ClientHello without consuming
/// it, then lets `PublicRouter` build the rest of the pipeline for that name and replays
/// the bytes into it. What is not a TLS client, or is too slow, is closed here.
///
/// From a trusted load balancer (`--proxy-protocol-from`) a PROXY protocol header comes
/// first, within the same timeout: it is consumed here and its client address replaces
/// the peer's (`client`) for routing, limits and logs. From anyone else a PROXY header is
/// refused: it would let any client choose the address it is logged and limited under.
final class ClientHelloSniffer: ChannelInboundHandler, RemovableChannelHandler, LoopSwept {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let router: PublicRouter
    private let parser: ClientHelloParser
    private let timeout: TimeAmount
    private var buffered: ByteBuffer?
    /// The timeout is watched by the loop's sweep (`LoopSweep`, a look every quarter
    /// timeout), not by a task per connection: nearly every one would be cancelled, at
    /// ~5,000 instructions a connection. A silent client goes after 1 to 1.25 timeouts.
    private var sweepLoop: LoopSweep?
    private var deadline = NIODeadline.distantFuture
    /// Held for the sweep's look; let go when the handler is removed.
    private var context: ChannelHandlerContext?
    /// Kept by the sweep.
    var sweepSlot: Int?
    private var decided = false
    /// The peer is a trusted balancer whose header has not been read yet.
    private var awaitingProxyHeader = false
    /// The balancer's own connection (v2 LOCAL, a health check): its close is not a refusal.
    private var balancerCheck = false
    /// This connection's id (`ConnectionID`): metadata `conn` on every line about it.
    let id = ConnectionID.make()
    /// The router's logger, its lines with `conn`.
    let logger: ConnectionLogger
    /// The browser's (or agent's) address: the TCP peer, or the client a trusted
    /// balancer's PROXY header names. Final once the sniffer hands over to the router.
    private(set) var client: SocketAddress?
    /// The balancer's address the client connected to (the header's destination): its
    /// port is the one links must name. nil without a PROXY header.
    private(set) var frontend: SocketAddress?

    init(router: PublicRouter, parser: ClientHelloParser = ClientHelloParser(), timeout: TimeAmount) {
        self.router = router
        self.parser = parser
        self.timeout = timeout
        logger = ConnectionLogger(router.logger, conn: id)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        client = context.channel.remoteAddress
        awaitingProxyHeader = router.trustedProxies.contains(client)
        self.context = context
        deadline = .now() + timeout
        let sweep = LoopSweep.of(context.eventLoop, interval: .nanoseconds(timeout.nanoseconds / 4))
        sweep.add(self)
        sweepLoop = sweep
    }

    func sweep(now: NIODeadline) -> Bool {
        guard !decided, let context else { return false }
        guard now >= deadline else { return true }
        sweepLoop = nil
        if awaitingProxyHeader {
            refuse(context: context, reason: "proxy-header-missing", alert: nil, detail: "timeout")
        } else {
            refuse(context: context, reason: "timeout", alert: nil)
        }
        return false
    }

    /// Out of the sweep: decided, or gone.
    private func leaveSweep() {
        sweepLoop?.remove(self)
        sweepLoop = nil
    }

    /// A peer with no address reset its connection before it was accepted (getpeername
    /// failed): nothing to serve or refuse. Balancer health checks do this (connect,
    /// header, RST) every few seconds, so it is not a "browser refused" line.
    func channelActive(context: ChannelHandlerContext) {
        guard client == nil else {
            context.fireChannelActive()
            return
        }
        decided = true
        leaveSweep()
        logger.debug("connection reset before it was accepted")
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leaveSweep()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return }
        var bytes = unwrapInboundIn(data)
        if buffered == nil { buffered = bytes } else { buffered!.writeBuffer(&bytes) }
        if awaitingProxyHeader, !readProxyHeader(context: context) { return }
        // Not before the announced bytes are in (an announced size over the limit goes
        // to the parser at once, which refuses it): one parse per ClientHello, not one
        // per segment of a ClientHello sent a byte at a time.
        let limit = parser.maxHandshakeBytes + 5 * 4
        if let announced = buffered!.withUnsafeReadableBytes({ ClientHelloParser.announcedLength($0) }),
           announced <= limit, buffered!.readableBytes < announced {
            return
        }
        switch parser.parse(buffered!) {
        case .needMore:
            // Records carry at most 16 KiB each; more than that plus headers without a
            // complete ClientHello is already over the limit.
            if buffered!.readableBytes > limit {
                refuse(context: context, reason: "bad-client-hello", alert: nil)
            }
        case .notTLS:
            let proxyHeader = buffered!.withUnsafeReadableBytes { ProxyHeaderParser.looksLikeHeader($0) }
            refuse(context: context, reason: proxyHeader ? "proxy-header-untrusted" : "not-tls", alert: nil)
        case .tooLarge:
            refuse(context: context, reason: "bad-client-hello", alert: nil, detail: "too large")
        case .malformed(let why):
            refuse(context: context, reason: "bad-client-hello", alert: nil, detail: why)
        case .complete(let hello):
            decided = true
            leaveSweep()
            router.route(hello, bytes: buffered!, context: context, sniffer: self)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, !decided {
            if balancerCheck, (buffered?.readableBytes ?? 0) == 0 {
                decided = true
                leaveSweep()
                context.close(promise: nil)
            } else {
                refuse(context: context, reason: awaitingProxyHeader ? "proxy-header-missing" : "eof", alert: nil,
                       detail: awaitingProxyHeader ? "eof" : nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !decided { decided = true; context.close(promise: nil) } else { context.fireErrorCaught(error) }
    }

    /// Writes the alert (if any), then closes; logged with the reason and the address.
    func refuse(context: ChannelHandlerContext, reason: String, alert: TLSAlert?, detail: String? = nil) {
        decided = true
        leaveSweep()
        router.logRefusal(reason: reason, detail: detail, remote: client, conn: id)
        if let alert {
            let channel = context.channel
            context.writeAndFlush(NIOAny(alert.record(allocator: context.channel.allocator))).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// Consumes the PROXY header at the front of `buffered` (haproxy's proxy-protocol.txt):
    /// true when it is done and `buffered` holds only what followed it; false when more
    /// bytes are needed or the connection was refused (no byte of it goes anywhere).
    private func readProxyHeader(context: ChannelHandlerContext) -> Bool {
        guard var bytes = buffered else { return false }
        switch router.proxyHeaderParser.parse(bytes) {
        case .needMore:
            return false
        case .invalid(.missing):
            refuse(context: context, reason: "proxy-header-missing", alert: nil)
            return false
        case .invalid(let problem):
            refuse(context: context, reason: "proxy-header-invalid", alert: nil, detail: "\(problem)")
            return false
        case .complete(let header, let length):
            awaitingProxyHeader = false
            bytes.moveReaderIndex(forwardBy: length)
            if let source = header.source {
                client = source
                frontend = header.destination
            } else if header.command == .local {
                balancerCheck = true
                logger.debug("balancer check", metadata: ["remote": "\(HostPort.describe(client))"])
            }
            guard bytes.readableBytes > 0 else {
                buffered = nil
                return false
            }
            buffered = bytes
            return true
        }
    }
}
