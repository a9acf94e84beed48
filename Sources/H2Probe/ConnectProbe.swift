import H2TunnelCore
import H2TunnelHTTP2
import NIOCore
import NIOPosix

/// `h2probe connect URL --protocol TOKEN`: an RFC 8441 extended CONNECT whose stream
/// carries stdin to the server and the server's bytes to stdout, like `nc`.
public struct ConnectProbe: Sendable {
    public var target: ProbeTarget
    public var protocolToken: String
    public var options: ProbeOptions

    public init(target: ProbeTarget, protocolToken: String, options: ProbeOptions) {
        self.target = target
        self.protocolToken = protocolToken
        self.options = options
    }

    public func run(output: ProbeOutput, group: EventLoopGroup) async throws {
        let (connection, _) = try await ProbeConnection.open(target, options: options, output: output, group: group)
        let loop = connection.channel.eventLoop
        guard !connection.rolesReversed else {
            throw ProbeError(.protocol, "the peer is the HTTP/2 client here (the relay's agent endpoint), so h2probe " +
                             "cannot open a stream to it; `h2probe ping` works")
        }
        // nghttp2's client does not check this itself: without it the server would answer RST_STREAM.
        guard try await loop.submit({ connection.handler.acceptsExtendedConnect }).get() else {
            throw ProbeError(.protocol, "the server does not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL is not 1)")
        }
        let splice = StreamSplice(streamLoop: loop, channelLoop: loop)
        let status = loop.makePromise(of: String.self)
        let finished = loop.makePromise(of: UInt32.self)
        splice.onResponse = { headers in
            status.succeed(headers[":status"] ?? "none")
            return headers[":status"] == "200"
        }
        splice.onStreamClosed = { code in
            status.fail(ProbeError(.protocol, "stream reset before a response: \(HTTP2ErrorCode.name(code))"))
            finished.succeed(code)
        }
        let headers = [(":method", "CONNECT"), (":protocol", protocolToken), (":scheme", target.secure ? "https" : "http"),
                       (":authority", target.authority), (":path", target.path)]
        try await loop.submit {
            let stream = try connection.handler.openStream(headers: headers, delegate: splice)
            splice.attach(stream: stream)
        }.get()
        let answer = try await status.futureResult.get()
        guard answer == "200" else { throw ProbeError(.protocol, "CONNECT answered :status \(answer)") }
        output.line("CONNECT \(protocolToken) open; piping stdin/stdout")
        let stdio = try StdioBridge()
        let pipe = try await NIOPipeBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SpliceChannelHandler(splice: splice))
                }
            }
            .takingOwnershipOfDescriptors(input: stdio.input, output: stdio.output).get()
        let code = try await finished.futureResult.get()
        try? await pipe.closeFuture.get()
        stdio.waitForOutput(timeout: options.timeout)
        guard code == HTTP2ErrorCode.noError else { throw ProbeError(.protocol, "stream reset: \(HTTP2ErrorCode.name(code))") }
        try? await loop.submit { connection.handler.drain() }.get()
        try? await connection.channel.closeFuture.get()
    }
}
