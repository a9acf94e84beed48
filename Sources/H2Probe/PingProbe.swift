import H2TunnelHTTP2
import NIOCore

/// `h2probe ping URL --count N`: HTTP/2 PING round trips on one connection.
public struct PingProbe: Sendable {
    public var target: ProbeTarget
    public var count: Int
    public var options: ProbeOptions

    public init(target: ProbeTarget, count: Int, options: ProbeOptions) {
        self.target = target
        self.count = count
        self.options = options
    }

    public func run(output: ProbeOutput, group: EventLoopGroup) async throws {
        let (connection, _) = try await ProbeConnection.open(target, options: options, output: output, group: group)
        let loop = connection.channel.eventLoop
        var rtts: [Double] = []
        for _ in 0..<count {
            let rtt = try await loop.flatSubmit { connection.handler.measurePing() }.get()
            rtts.append(Double(rtt.nanoseconds) / 1e6)
            output.detail(String(format: "PING %d: %.3f ms", rtts.count, rtts.last!))
        }
        let sorted = rtts.sorted()
        let summary = PingProbe.summary(sorted)
        output.set("ping", ["count": count, "rttMs": rtts, "minMs": summary.min, "medianMs": summary.median, "p99Ms": summary.p99])
        output.raw(String(format: "%d PINGs: min %.3f ms, median %.3f ms, p99 %.3f ms\n",
                          count, summary.min, summary.median, summary.p99))
        try? await loop.submit { connection.handler.drain() }.get()
        try? await connection.channel.closeFuture.get()
    }

    /// Nearest-rank percentiles over sorted samples.
    static func summary(_ sorted: [Double]) -> (min: Double, median: Double, p99: Double) {
        guard !sorted.isEmpty else { return (0, 0, 0) }
        func rank(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        return (sorted[0], rank(0.5), rank(0.99))
    }
}
