import Hummingbird
import HTTPTypes

/// The headers every response of the site carries, errors included.
///
/// - Strict-Transport-Security (RFC 6797): the browser uses https only for a year.
/// - Content-Security-Policy (CSP Level 3): only this site's stylesheet, no scripts at
///   all (the pages need none), no framing (`frame-ancestors 'none'`, against
///   clickjacking), forms post only here or to the tenant hosts — Chromium applies
///   `form-action` to the redirects that follow a post (sign-in → /open → tenant).
/// - X-Content-Type-Options nosniff, Referrer-Policy no-referrer (a ticket in a URL must
///   never leak in a Referer), Cache-Control no-store (pages name the user's companies).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = SiteRequestContext
    let tenantDomain: String
    let publicPort: Int?

    /// The tenant hosts' origin carries the port browsers use (CSP host-source without a
    /// port matches only 443).
    func contentSecurityPolicy(connectedPort: Int?) -> String {
        let settings = SiteSettings(hostname: "", tenantDomain: tenantDomain, publicPort: publicPort)
        return [
            "default-src 'none'", "style-src 'self'", "img-src 'self'",
            "form-action 'self' https://*.\(tenantDomain)\(settings.portSuffix(connectedPort: connectedPort))",
            "frame-ancestors 'none'", "base-uri 'none'",
        ].joined(separator: "; ")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            // Router errors (404, 413 …) become a page, with the headers below.
            let status = error.status
            context.logger.info("site request refused", metadata: ["status": "\(status.code)", "path": "\(request.uri.path)"])
            response = Page.message(status: status, title: status.reasonPhrase,
                                    text: Self.explanation(status))
        } catch {
            // A store that does not answer, a key that does not sign: say so, log why.
            context.logger.error("site request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            response = Page.message(status: .internalServerError, title: "Something went wrong",
                                    text: "The relay could not answer this request. Try again in a moment.")
        }
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy(connectedPort: context.localPort)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        return response
    }

    private static func explanation(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "There is no page at this address."
        case .contentTooLarge: "The form sent was too large."
        case .methodNotAllowed: "This page does not take that kind of request."
        default: "The request could not be handled."
        }
    }
}

extension HTTPField.Name {
    /// Not among swift-http-types' names; a constant, valid token.
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
