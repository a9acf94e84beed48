import Foundation
import H2TunnelCore
import H2TunnelHTTP2
import NIOCore
import NIOPosix

/// `h2probe URL`: one request, every frame both ways, the response.
public struct RequestProbe: Sendable {
    public var target: ProbeTarget
    public var method = "GET"
    public var headers: [(String, String)] = []
    public var data: String?
    public var options: ProbeOptions

    public init(target: ProbeTarget, options: ProbeOptions) {
        self.target = target
        self.options = options
    }

    public func run(output: ProbeOutput, group: EventLoopGroup) async throws {
        let (connection, timing) = try await ProbeConnection.open(target, options: options, output: output, group: group)
        let loop = connection.channel.eventLoop
        if connection.rolesReversed {
            // The peer is the HTTP/2 client (the relay's agent endpoint): a server cannot
            // send a request, so the dump ends with its SETTINGS and an explanation.
            output.line("no request sent: this endpoint sends requests rather than answering them " +
                        "(the relay's agent endpoint); its SETTINGS are above; `h2probe ping` measures round trips here")
            try? await loop.submit { connection.handler.drain() }.get()
            try? await connection.channel.closeFuture.get()
            return
        }
        let collector = ResponseCollector(eventLoop: loop) { output.elapsed }
        let mode = output.mode
        collector.onData = { data in
            if mode != .json { data.withUnsafeReadableBytes { StandardStream.output.write($0.bindMemory(to: UInt8.self)) } }
        }
        let requestHeaders = [(":method", method), (":scheme", target.secure ? "https" : "http"),
                              (":authority", target.authority), (":path", target.path),
                              ("user-agent", "h2probe/1")] + headers.map { ($0.0.lowercased(), $0.1) }
        let body = data
        let sent = output.elapsed
        try await loop.submit {
            let stream = try connection.handler.openStream(headers: requestHeaders, delegate: collector, hasBody: body != nil)
            if let body {
                stream.write(ByteBuffer(string: body))
                stream.end()
            }
        }.get()
        let response = try await collector.headersReceived.futureResult.get()
        try await collector.done.futureResult.get()
        let total = output.elapsed
        output.set("response", ["status": Int(response[":status"] ?? "") ?? 0,
                                "headers": response.fields.map { [$0.name, $0.value] },
                                "bodyBytes": collector.bodyBytes])
        output.set("timing", ["tcpMs": timing.tcp * 1000, "tlsMs": (timing.tls ?? 0) * 1000,
                              "firstByteMs": ((collector.firstByte ?? total) - sent) * 1000, "totalMs": total * 1000])
        output.line("response \(response[":status"] ?? "?"), \(collector.bodyBytes) body bytes")
        output.detail(String(format: "timing: TCP %.1f ms, TLS %.1f ms, first byte %.1f ms, total %.1f ms",
                             timing.tcp * 1000, (timing.tls ?? 0) * 1000,
                             ((collector.firstByte ?? total) - sent) * 1000, total * 1000))
        try? await loop.submit { connection.handler.drain() }.get()
        try? await connection.channel.closeFuture.get()
    }
}
