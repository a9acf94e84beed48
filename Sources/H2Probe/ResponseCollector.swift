import H2TunnelHTTP2
import NIOCore

/// Collects one response stream: headers, body (window given back at once), end.
final class ResponseCollector: HTTP2StreamDelegate, @unchecked Sendable {
    let done: EventLoopPromise<Void>
    let headersReceived: EventLoopPromise<HTTP2Headers>
    private(set) var headers = HTTP2Headers()
    private(set) var bodyBytes = 0
    private(set) var firstByte: Double?
    var onData: ((ByteBuffer) -> Void)?
    private let clock: () -> Double

    init(eventLoop: EventLoop, clock: @escaping () -> Double) {
        done = eventLoop.makePromise()
        headersReceived = eventLoop.makePromise()
        self.clock = clock
    }

    /// A collector dropped before its stream ended (the probe gave up) still completes its promises.
    deinit {
        headersReceived.fail(ProbeError(.protocol, "stream abandoned"))
        done.fail(ProbeError(.protocol, "stream abandoned"))
    }

    func stream(_ stream: HTTP2Stream, didReceiveHeaders headers: HTTP2Headers) {
        if headers[":status"] != nil, self.headers[":status"] == nil {
            self.headers = headers
            firstByte = clock()
            headersReceived.succeed(headers)
        }
    }

    func stream(_ stream: HTTP2Stream, didReceiveData data: ByteBuffer) {
        bodyBytes += data.readableBytes
        onData?(data)
        stream.consume(data.readableBytes)
    }

    func streamDidReceiveEnd(_ stream: HTTP2Stream) {}

    func streamDidClose(_ stream: HTTP2Stream, errorCode: UInt32) {
        headersReceived.fail(ProbeError(.protocol, "stream reset before a response: \(HTTP2ErrorCode.name(errorCode))"))
        if errorCode == HTTP2ErrorCode.noError {
            done.succeed(())
        } else {
            done.fail(ProbeError(.protocol, "stream \(stream.id) reset: \(HTTP2ErrorCode.name(errorCode))"))
        }
    }

    func streamWritabilityChanged(_ stream: HTTP2Stream) {}
}
