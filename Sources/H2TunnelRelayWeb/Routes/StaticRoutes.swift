import Hummingbird

/// `GET /static/site.css`: the one stylesheet (the CSP allows styles from here only).
struct StaticRoutes: Sendable {
    func add<Context: RequestContext>(to router: Router<Context>) {
        router.get("static/site.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: Stylesheet.text)))
        }
    }
}
