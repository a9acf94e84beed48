import Foundation
import NIOCore
import NIOHTTP1

/// A response built in one piece by a route.
struct DemoResponse {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer

    /// For pages and their assets: a CSP with no inline script or style, so the
    /// page proves it runs under the strictest policy a site could set.
    static let pageSecurityHeaders: HTTPHeaders = [
        "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    ]

    static func text(_ status: HTTPResponseStatus, _ text: String) -> DemoResponse {
        DemoResponse(status: status, headers: ["content-type": "text/plain; charset=utf-8"],
                     body: ByteBuffer(string: text))
    }

    static func html(_ html: String, status: HTTPResponseStatus = .ok) -> DemoResponse {
        var headers = pageSecurityHeaders
        headers.add(name: "content-type", value: "text/html; charset=utf-8")
        return DemoResponse(status: status, headers: headers, body: ByteBuffer(string: html))
    }

    static func asset(_ contentType: String, _ text: String) -> DemoResponse {
        var headers = pageSecurityHeaders
        headers.add(name: "content-type", value: contentType)
        return DemoResponse(status: .ok, headers: headers, body: ByteBuffer(string: text))
    }

    static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> DemoResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(value)
            data.append(0x0A)
            return DemoResponse(status: status, headers: [
                "content-type": "application/json", "cache-control": "no-store",
            ], body: ByteBuffer(bytes: data))
        } catch {
            return .text(.internalServerError, "could not encode the response: \(error)\n")
        }
    }

    /// The API's error shape: `{"error": "..."}`.
    static func error(_ status: HTTPResponseStatus, _ message: String) -> DemoResponse {
        json(["error": message], status: status)
    }
}
