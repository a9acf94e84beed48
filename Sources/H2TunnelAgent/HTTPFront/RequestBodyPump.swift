import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore

/// The browser's request body on its way to the app: read by `run`, a task the request's
/// handler waits for, and handed to async-http-client one chunk at a time.
///
/// async-http-client reads a streamed request body in a task of its own, which can
/// outlive `HTTPClient.execute` and the whole response: an app that answers an upload
/// before reading all of it (a 404 or 413), or a body task that merely ran late under
/// load. Once the handler returns, Hummingbird reads the connection's next request
/// through the same iterator; with the client's task still waiting in it, NIO's producer
/// (one waiting `next()` allowed) trapped and the agent died with every tunnel. Here only
/// `run` reads the browser's body, and the handler ends only after it: once the response
/// is done (`responseDone`), the rest of the body is read and dropped, as Hummingbird
/// would have done, so the connection goes on to its next request.
///
/// Backpressure is kept: `run` reads the next chunk only once the client took the last.
final class RequestBodyPump: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// The client asked for more after the response was done and bytes had been dropped:
    /// the app did not get the whole body.
    struct Dropped: Error, CustomStringConvertible {
        var description: String { "the response ended before the request body was sent" }
    }

    private struct State {
        /// A chunk the client has not taken yet.
        var chunk: ByteBuffer?
        /// `run`, waiting for `chunk` to be taken.
        var room: CheckedContinuation<Void, Never>?
        /// The client, waiting for a chunk.
        var reader: CheckedContinuation<ByteBuffer?, any Error>?
        /// The browser's body ended (success) or failed.
        var end: Result<Void, any Error>?
        /// The response is done: the client gets nothing more.
        var abandoned = false
        /// Bytes `run` read after the response was done.
        var dropped = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Reads the browser's body to its end; returns once it ended or failed.
    func run(_ body: RequestBody) async {
        do {
            for try await chunk in body { await put(chunk) }
            finish(.success(()))
        } catch {
            finish(.failure(error))
        }
    }

    /// Bytes of the body read after the response was done, and dropped.
    var droppedBytes: Int { state.withLockedValue { $0.dropped } }

    /// The response is done: `run` drops what still comes instead of waiting for the client.
    func responseDone() {
        let room = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.abandoned = true
            defer { state.room = nil }
            return state.room
        }
        room?.resume()
    }

    private enum PutAction {
        /// The client waits: hand the chunk over and read on.
        case hand(CheckedContinuation<ByteBuffer?, any Error>)
        /// The response is done: drop the chunk and read on.
        case drop
        /// Held for the client: read on once it took the chunk.
        case wait
    }

    private func put(_ chunk: ByteBuffer) async {
        await withCheckedContinuation { (room: CheckedContinuation<Void, Never>) in
            let action = state.withLockedValue { state -> PutAction in
                if state.abandoned {
                    state.dropped += chunk.readableBytes
                    return .drop
                }
                if let reader = state.reader {
                    state.reader = nil
                    return .hand(reader)
                }
                state.chunk = chunk
                state.room = room
                return .wait
            }
            switch action {
            case .hand(let reader):
                reader.resume(returning: chunk)
                room.resume()
            case .drop:
                room.resume()
            case .wait:
                break
            }
        }
    }

    private func finish(_ end: Result<Void, any Error>) {
        let waiting = state.withLockedValue { state -> (CheckedContinuation<ByteBuffer?, any Error>, Result<ByteBuffer?, any Error>)? in
            state.end = end
            guard let reader = state.reader else { return nil }
            state.reader = nil
            return (reader, Self.outcome(end, dropped: state.dropped))
        }
        if let waiting { waiting.0.resume(with: waiting.1) }
    }

    private static func outcome(_ end: Result<Void, any Error>, dropped: Int) -> Result<ByteBuffer?, any Error> {
        switch end {
        case .success: dropped > 0 ? .failure(Dropped()) : .success(nil)
        case .failure(let error): .failure(error)
        }
    }

    /// The client's side: the next chunk, nil at the body's end.
    private func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (reader: CheckedContinuation<ByteBuffer?, any Error>) in
            let ready = state.withLockedValue { state -> (Result<ByteBuffer?, any Error>, CheckedContinuation<Void, Never>?)? in
                if let chunk = state.chunk {
                    state.chunk = nil
                    defer { state.room = nil }
                    return (.success(chunk), state.room)
                }
                if let end = state.end { return (Self.outcome(end, dropped: state.dropped), nil) }
                state.reader = reader
                return nil
            }
            guard let ready else { return }
            reader.resume(with: ready.0)
            ready.1?.resume()
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let pump: RequestBodyPump
        mutating func next() async throws -> ByteBuffer? { try await pump.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pump: self) }
}
