import HummingbirdCore
import NIOCore
import Testing
@testable import H2TunnelAgent

/// The pump between the browser's request body and async-http-client (the e2e test
/// `test_http_front_early_answer.py` runs it between real peers).
@Suite struct RequestBodyPumpTests {
    struct BrowserGone: Error {}

    static func chunk(_ byte: UInt8, _ count: Int = 4) -> ByteBuffer { ByteBuffer(repeating: byte, count: count) }

    /// The client's next read (the pump's iterators all read the one queue).
    static func next(_ pump: RequestBodyPump) async throws -> ByteBuffer? {
        var iterator = pump.makeAsyncIterator()
        return try await iterator.next()
    }

    static func readAll(_ pump: RequestBodyPump) async throws -> [ByteBuffer] {
        var chunks: [ByteBuffer] = []
        for try await chunk in pump { chunks.append(chunk) }
        return chunks
    }

    @Test func theBodyReachesTheClientInOrderThenEnds() async throws {
        let (body, source) = RequestBody.makeStream()
        let pump = RequestBodyPump()
        async let pumped: Void = pump.run(body)
        async let read = Self.readAll(pump)
        for byte: UInt8 in 1...3 { await source.yield(Self.chunk(byte)) }
        source.finish()
        await pumped
        #expect(try await read == [Self.chunk(1), Self.chunk(2), Self.chunk(3)])
        #expect(pump.droppedBytes == 0)
    }

    /// The app answered first: what the browser still sends is read and dropped, and the
    /// client, if it asks again, learns that its body was cut short.
    @Test func afterTheResponseTheRestIsDropped() async throws {
        let (body, source) = RequestBody.makeStream()
        let pump = RequestBodyPump()
        async let pumped: Void = pump.run(body)
        await source.yield(Self.chunk(1))
        #expect(try await Self.next(pump) == Self.chunk(1))
        pump.responseDone()
        await source.yield(Self.chunk(2))
        await source.yield(Self.chunk(3, 6))
        source.finish()
        await pumped
        #expect(pump.droppedBytes == 10)
        await #expect(throws: RequestBodyPump.Dropped.self) { try await Self.next(pump) }
    }

    /// A body that was complete when the response ended still ends cleanly for the client,
    /// so the app's connection can be used again.
    @Test func aCompleteBodyEndsCleanlyAfterTheResponse() async throws {
        let (body, source) = RequestBody.makeStream()
        let pump = RequestBodyPump()
        async let pumped: Void = pump.run(body)
        await source.yield(Self.chunk(1))
        #expect(try await Self.next(pump) == Self.chunk(1))
        async let last = Self.next(pump)
        pump.responseDone()
        source.finish()
        await pumped
        #expect(try await last == nil)
    }

    @Test func aFailedBrowserBodyFailsTheClient() async throws {
        let (body, source) = RequestBody.makeStream()
        let pump = RequestBodyPump()
        async let pumped: Void = pump.run(body)
        await source.yield(Self.chunk(1))
        source.finish(BrowserGone())
        #expect(try await Self.next(pump) == Self.chunk(1))
        await pumped
        await #expect(throws: BrowserGone.self) { try await Self.next(pump) }
    }
}
