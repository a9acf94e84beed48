@testable import H2TunnelHTTP2
import NIOCore
import Testing

@Suite struct WindowTuningTests {
    /// A download of `size` bytes over a path whose every flight takes 10 ms (20 ms round
    /// trip). `reader` writes bytes onward between flights; returns the stream's final window.
    static func download(size: Int = 4 << 20, reader: (HTTP2Stream, Recorder, Pair) -> Void = { _, _, _ in },
                         writesOnwardAtOnce: Bool = false) throws -> (window: Int, rtt: TimeAmount?) {
        let pair = try Pair { $0.pingInterval = .hours(1) }   // liveness on: a PING at start
        try pair.pump(delay: .milliseconds(10))
        let recorder = Recorder()
        recorder.writesOnwardAtOnce = writesOnwardAtOnce
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump(delay: .milliseconds(10))
        let payload = Pair.patterned(size, step: 3)
        let server = try #require(pair.serverRecorder.requests.last)
        server.write(payload)
        server.end()
        for _ in 0..<2000 where !recorder.ended {
            try pair.pump(delay: .milliseconds(10))
            reader(stream, recorder, pair)
        }
        #expect(recorder.received == payload)
        return (stream.receiveWindow, pair.client.minRTT)
    }

    /// A reader that writes everything onward as it arrives is held back only by the
    /// window: it doubles up to the cap.
    @Test func aWindowThatLimitsTheStreamGrowsToTheCap() throws {
        let result = try Self.download(size: 12 << 20, writesOnwardAtOnce: true)
        #expect(result.rtt == .milliseconds(20))
        #expect(result.window == HTTP2Settings().maxStreamWindow)
    }

    /// The first round trip carries the connection's first-time work. The PINGs sent
    /// after it at start find the path's own delay, and windows are sized to that.
    @Test func aSlowFirstRoundTripDoesNotSizeTheWindows() throws {
        let pair = try Pair { $0.pingInterval = .hours(1) }
        while pair.client.minRTT == nil { try pair.pump(delay: .milliseconds(10), flights: 1) }
        #expect(pair.client.minRTT == .milliseconds(20))
        try pair.pump(delay: .milliseconds(1))
        #expect(pair.client.minRTT == .milliseconds(2))
    }

    /// A reader slower than the path (one window per 100 ms) keeps the initial window.
    @Test func aSlowReaderKeepsTheInitialWindow() throws {
        var consumed = 0
        let result = try Self.download { stream, recorder, pair in
            pair.loop.advanceTime(by: .milliseconds(100))
            stream.consume(recorder.received.readableBytes - consumed)
            consumed = recorder.received.readableBytes
        }
        #expect(result.window == HTTP2Settings().initialStreamWindow)
    }

    /// A slow socket that drains its backlog at once: several writes complete together, so
    /// half a window is written onward in no time, yet the reader is what holds the stream.
    @Test func aBacklogDrainedAtOnceDoesNotGrowTheWindow() throws {
        var consumed = 0
        let result = try Self.download { stream, recorder, pair in
            pair.loop.advanceTime(by: .milliseconds(200))
            while consumed < recorder.received.readableBytes {   // 64 KiB write completions
                let step = min(64 << 10, recorder.received.readableBytes - consumed)
                stream.consume(step)
                consumed += step
            }
        }
        #expect(result.window == HTTP2Settings().initialStreamWindow)
    }

    /// A stream's window comes back every quarter written onward, not nghttp2's every half,
    /// so a sender on a long path keeps three quarters to a whole window in flight.
    @Test func aQuarterWindowWrittenOnwardIsGivenBack() throws {
        let pair = try Pair()
        let recorder = Recorder()
        let stream = try pair.openTunnel(delegate: recorder)
        try pair.pump()
        let window = HTTP2Settings().initialStreamWindow
        let server = try #require(pair.serverRecorder.requests.last)
        server.write(Pair.patterned(2 * window, step: 3))
        try pair.pump()
        #expect(recorder.received.readableBytes == window)
        stream.consume(window / 4 - 1)
        try pair.pump()
        #expect(recorder.received.readableBytes == window)
        stream.consume(1)
        try pair.pump()
        #expect(recorder.received.readableBytes == window + window / 4)
        #expect(stream.receiveWindow == window)
    }
}
