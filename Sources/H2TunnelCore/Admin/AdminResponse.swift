import NIOHTTP1

/// One answer of an admin listener (relay or agent): small, whole, never streamed.
public struct AdminResponse: Sendable, Equatable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    public init(status: HTTPResponseStatus, contentType: String, body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// One line of text; the newline is added.
    public static func text(_ line: String, status: HTTPResponseStatus = .ok) -> AdminResponse {
        AdminResponse(status: status, contentType: "text/plain; charset=utf-8", body: line + "\n")
    }

    public static func json(_ body: String) -> AdminResponse {
        AdminResponse(status: .ok, contentType: "application/json", body: body)
    }

    public static let notFound = text("not found", status: .notFound)

    /// `/metrics`: the Prometheus text of `PrometheusExport`'s registry; 404 in a process
    /// that bootstrapped its own metrics backend (the numbers are there, not here).
    public static func metrics() -> AdminResponse {
        guard let registry = PrometheusExport.registry else {
            return text("metrics go to this process's own swift-metrics backend", status: .notFound)
        }
        return AdminResponse(status: .ok, contentType: PrometheusExport.contentType, body: registry.emitToString())
    }
}
