@testable import H2TunnelHTTP2
import NIOCore
import Testing

@Suite struct WindowTuningTests {
    /// A 12 MiB download on a 20 ms path, read `pace` apart per pump; returns the
    /// stream's final receive window after checking every byte.
    static func download(pace: TimeAmount) throws -> (window: Int, rtt: TimeAmount?) {
        let pair = try Pair { $0.pingInterval = .hours(1) }   // liveness on: a PING at start
        try pair.pump(delay: .milliseconds(10))       // SETTINGS, then the first PING: 20 ms
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        let payload = Pair.patterned(12 << 20, step: 3)
        let server = try #require(pair.serverRecorder.requests.last)
        server.write(payload)
        server.end()
        var consumed = 0
        for _ in 0..<2000 where !recorder.ended {
            try pair.pump()
            pair.loop.advanceTime(by: pace)
            stream.consume(recorder.received.readableBytes - consumed)
            consumed = recorder.received.readableBytes
        }
        #expect(recorder.received == payload)
        return (stream.receiveWindow, pair.client.minRTT)
    }

    /// A reader that writes everything onward at once is held back only by the window:
    /// it doubles up to the cap.
    @Test func aWindowThatLimitsTheStreamGrowsToTheCap() throws {
        let result = try Self.download(pace: .zero)
        #expect(result.rtt == .milliseconds(20))
        #expect(result.window == HTTP2Settings().maxStreamWindow)
    }

    /// A reader slower than the path keeps the initial window: it would only hold more.
    @Test func aSlowReaderKeepsTheInitialWindow() throws {
        let result = try Self.download(pace: .milliseconds(100))
        #expect(result.window == HTTP2Settings().initialStreamWindow)
    }
}
