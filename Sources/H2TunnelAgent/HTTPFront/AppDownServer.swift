import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore

/// tcp:// mode with the app down: instead of a reset, the browser's TLS completes (the
/// splice's `TLSTerminator`, as for a live app) and every HTTP/1.1 request gets the
/// "application is not answering" page, then the connection closes.
enum AppDownServer {
    static func open(on loop: EventLoop, logger: Logger) -> EventLoopFuture<Channel> {
        SocketPair.open(on: loop) { channel in
            let http1 = HTTP1Channel(responder: { _, writer, _ in
                var page = FrontPage.response(status: .badGateway, title: FrontPage.appDown.title,
                                              message: FrontPage.appDown.message)
                page.0.headerFields[.connection] = "close"
                try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
            })
            return http1.setup(channel: channel, logger: logger).map { value in
                Task { await http1.handle(value: value, logger: logger) }
            }
        }
    }
}
