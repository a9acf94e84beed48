import H2TunnelHTTP2
import NIOCore
import NIOEmbedded
import Testing

/// The server's scheduler (`HTTP2ConnectionHandler+Urgency`): a stream that sends in a
/// short burst goes before streams that have been sending for long, instead of joining
/// the end of their round-robin.
@Suite struct StreamUrgencyTests {
    /// Five tunnels opened as the relay opens them (`u=3, i`), whose server side (the agent)
    /// hands the channel 64 KiB at a time, as NIO's high watermark on the agent does.
    struct Scene {
        let pair: Pair
        let log = SentDataLog()
        let streams: [HTTP2Stream]
        let gate: WritabilityGate

        init(bulkAfter: Int?) throws {
            pair = try Pair(server: { $0.bulkAfter = bulkAfter })
            pair.server.frameObserver = log
            pair.serverRecorder.onRequest = { stream in try? stream.respond(status: 200, withBody: true) }
            try pair.pump()
            for _ in 0..<5 {
                let reader = Recorder()
                reader.writesOnwardAtOnce = true
                _ = try pair.client.openStream(headers: Pair.connect + [("priority", "u=3, i")], delegate: reader)
            }
            try pair.pump()
            streams = pair.serverRecorder.requests
            gate = WritabilityGate(channel: pair.serverChannel, limit: 64 * 1024)
            try pair.serverChannel.pipeline.syncOperations.addHandler(gate, position: .first)
        }

        /// Lets the channel take one more 64 KiB.
        func drainOnce() throws {
            gate.written = 0
            pair.serverChannel.isWritable = true
            pair.serverChannel.pipeline.fireChannelWritabilityChanged()
            try pair.pump()
        }

        /// Queues 1 MiB on each of `bulk` and lets 320 KiB of each leave: past `bulkAfter`.
        func fill(_ bulk: ArraySlice<HTTP2Stream>) throws {
            for stream in bulk { stream.write(ByteBuffer(repeating: 0x42, count: 1 << 20)) }
            let start = log.sent.count
            while log.sent.count - start < bulk.count * 5 { try drainOnce() }
            #expect(!pair.serverChannel.isWritable)
        }

        /// Writes 1 KiB on `stream`, opens the channel, and returns how many DATA frames of
        /// other streams left before the first of it.
        func framesAhead(of stream: HTTP2Stream) throws -> Int {
            let before = log.sent.count
            stream.write(ByteBuffer(repeating: 0x5a, count: 1024))
            for _ in 0..<8 { try drainOnce() }
            let after = log.sent[before...]
            let first = try #require(after.firstIndex { $0 == stream.id })
            return first - before
        }
    }

    /// Only the frame nghttp2 had already packed when the channel filled goes first.
    @Test func aShortBurstGoesBeforeBulkStreams() throws {
        let scene = try Scene(bulkAfter: 256 * 1024)
        try scene.fill(scene.streams[0..<4])
        #expect(try scene.framesAhead(of: scene.streams[4]) <= 1)
    }

    /// The same scene without demotion: the short burst joins the end of the round.
    /// This is what the test above would see if `bulkAfter` did nothing.
    @Test func withoutDemotionTheShortBurstWaitsForTheRound() throws {
        let scene = try Scene(bulkAfter: nil)
        try scene.fill(scene.streams[0..<4])
        #expect(try scene.framesAhead(of: scene.streams[4]) >= 3)
    }

    /// A bulk stream whose queue ran dry is interactive again: its next short burst goes
    /// before the streams still sending.
    @Test func aBulkStreamThatRanDryIsInteractiveAgain() throws {
        let scene = try Scene(bulkAfter: 256 * 1024)
        try scene.fill(scene.streams[0..<4])
        for _ in 0..<200 where !scene.pair.serverChannel.isWritable { try scene.drainOnce() }
        #expect(scene.pair.serverChannel.isWritable)   // all four ran dry
        try scene.fill(scene.streams[1..<4])
        #expect(try scene.framesAhead(of: scene.streams[0]) <= 1)
    }
}

/// The stream of each DATA frame one side sends, in order.
final class SentDataLog: HTTP2FrameObserver {
    var sent: [Int32] = []
    func observe(_ frame: HTTP2FrameInfo) {
        if frame.direction == .sent && frame.type == 0 { sent.append(frame.streamID) }
    }
}
