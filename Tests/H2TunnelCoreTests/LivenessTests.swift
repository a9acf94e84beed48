@testable import H2TunnelHTTP2
import NIOCore
import Testing

/// Whether a PING's answer arrived (EmbeddedEventLoop: completions run on the test's thread).
final class Answer: @unchecked Sendable {
    var arrived = false
}

/// PING liveness: only the ACK of our own liveness PING proves the peer is there.
@Suite struct LivenessTests {
    /// A pair whose client PINGs every second and gives up after one more second, ready
    /// and with the PING sent at start already answered.
    static func readyPair() throws -> Pair {
        let pair = try Pair {
            $0.pingInterval = .seconds(1)
            $0.pingTimeout = .seconds(1)
        }
        try pair.pump()
        #expect(pair.client.minRTT != nil)   // the PING at start was answered
        return pair
    }

    /// A PING ACK frame (RFC 9113 §6.7) carrying `payload`, as a peer would send it.
    static func pingAck(_ payload: UInt64) -> ByteBuffer {
        var frame = ByteBuffer(bytes: [0, 0, 8, 0x6, 0x1, 0, 0, 0, 0])
        frame.writeInteger(payload)
        return frame
    }

    /// Lets the interval pass; the liveness PING it sends is lost on the way.
    static func loseTheNextPing(_ pair: Pair) throws {
        pair.loop.advanceTime(by: .seconds(1))
        var sent = 0
        while let lost = try pair.clientChannel.readOutbound(as: ByteBuffer.self) { sent += lost.readableBytes }
        #expect(sent > 0)
    }

    @Test func anAnsweredPingKeepsTheConnection() throws {
        let pair = try Self.readyPair()
        for _ in 0..<5 {
            pair.loop.advanceTime(by: .seconds(1))
            try pair.pump()
        }
        #expect(!pair.client.isClosed)
    }

    @Test func anUnansweredPingClosesTheConnection() throws {
        let pair = try Self.readyPair()
        try Self.loseTheNextPing(pair)
        pair.loop.advanceTime(by: .seconds(1))
        #expect(pair.client.isClosed)
    }

    /// A peer (or a middlebox) that sends ACKs for PINGs we never sent, or ACKs one again,
    /// must not keep a dead connection alive: the ACK names the PING it answers.
    @Test func anAckOfAnotherPingDoesNotCount() throws {
        let pair = try Self.readyPair()
        try Self.loseTheNextPing(pair)
        try pair.clientChannel.writeInbound(Self.pingAck(0xDEAD_BEEF))
        try pair.clientChannel.writeInbound(Self.pingAck(1))   // the PING at start, again
        pair.loop.run()
        #expect(!pair.client.isClosed)
        pair.loop.advanceTime(by: .seconds(1))
        #expect(pair.client.isClosed)
    }

    /// h2probe's measured PING is answered while the liveness PING is not: the answer to
    /// the one says nothing about the other.
    @Test func theAckOfAMeasuredPingDoesNotDisarmTheTimeout() throws {
        let pair = try Self.readyPair()
        try Self.loseTheNextPing(pair)
        let measured = Answer()
        pair.client.measurePing().whenSuccess { _ in measured.arrived = true }
        try pair.pump()   // the measured PING goes and comes back; the lost one stays lost
        #expect(measured.arrived)
        #expect(!pair.client.isClosed)
        pair.loop.advanceTime(by: .seconds(1))
        #expect(pair.client.isClosed)
    }
}
