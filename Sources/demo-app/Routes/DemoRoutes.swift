import NIOHTTP1

/// The routes that answer a whole request in one response: the JSON API, the
/// pages, and the refusal of `/ws/echo` without an Upgrade.
struct DemoRoutes {
    let api: APIRoutes
    let pages: LedgerPages

    init(book: LedgerBook) {
        api = APIRoutes(book: book)
        pages = LedgerPages(book: book)
    }

    /// Whether `path` belongs here; the handler collects the body only then.
    static func handles(_ path: String) -> Bool {
        path == "/app" || path.hasPrefix("/app/") || path.hasPrefix("/api/") || path == WebSocketUpgrade.path
    }

    func respond(to request: DemoRequest) -> DemoResponse {
        if request.path == WebSocketUpgrade.path {
            /// Reached only when the upgrader declined: not a WebSocket handshake
            /// (RFC 6455 §4.2.2 asks for 426 with the protocol to switch to).
            var response = DemoResponse.text(.upgradeRequired, "this endpoint speaks WebSocket only\n")
            response.headers.add(name: "upgrade", value: "websocket")
            return response
        }
        return api.respond(to: request) ?? pages.respond(to: request) ?? .text(.notFound, "not found\n")
    }
}
