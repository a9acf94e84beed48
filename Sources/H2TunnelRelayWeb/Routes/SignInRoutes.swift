import Foundation
import H2TunnelCore
import H2TunnelStore
import Hummingbird
import HummingbirdAuth

/// `GET|POST /signin` and `POST /signout`.
struct SignInRoutes: Sendable {
    let store: any RelayStore
    let limiter: SignInRateLimiter
    let sessionLifetime: Duration

    struct SignInForm: Decodable {
        var username: String?
        var password: String?
        var csrf: String?
        var next: String?
    }

    struct SignOutForm: Decodable {
        var csrf: String?
    }

    func add(to router: Router<SiteRequestContext>) {
        router.get("signin") { request, context in try await showForm(request, context) }
        router.post("signin") { request, context in try await signIn(request, context) }
        router.post("signout") { request, context in try await signOut(request, context) }
    }

    /// The form, with a fresh double-submit token unless the browser holds a good one.
    func showForm(_ request: Request, _ context: SiteRequestContext) async throws -> Response {
        let next = LocalPath.validated(request.uri.queryParameters["next"].map(String.init)) ?? "/"
        if context.sessions.session != nil { return Page.seeOther(next) }
        let token = request.cookies[CSRF.cookieName].map(\.value).flatMap { CSRF.isWellFormed($0) ? $0 : nil }
            ?? CSRF.newToken()
        return formPage(SignInPage(csrf: token, next: next), status: .ok)
    }

    func signIn(_ request: Request, _ context: SiteRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let form = (try? URLEncodedFormDecoder().decode(SignInForm.self, from: String(buffer: body))) ?? SignInForm()
        let cookieToken = request.cookies[CSRF.cookieName]?.value
        guard let cookieToken, CSRF.matches(cookieToken, form.csrf) else {
            context.logger.warning("sign-in refused", metadata: ["reason": "csrf", "remote": "\(context.remoteAddress)"])
            RelayMetrics.signIn(outcome: "csrf")
            return Page.message(status: .forbidden, title: "Form expired",
                                text: "The sign-in form could not be verified. Reload it and sign in again.",
                                link: ("/signin", "Back to sign-in"))
        }
        let next = LocalPath.validated(form.next) ?? "/"
        let username = (form.username ?? "").trimmingCharacters(in: .whitespaces)
        let password = form.password ?? ""
        var page = SignInPage(csrf: cookieToken, next: next, username: String(username.prefix(128)))
        // Names with control characters are never valid, and would forge log lines.
        guard !username.isEmpty, username.utf8.count <= 128, !password.isEmpty, password.utf8.count <= 1024,
              !username.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) else {
            RelayMetrics.signIn(outcome: "invalid-form")
            page.error = "Enter your user name and password."
            return formPage(page, status: .unauthorized)
        }
        if let wait = limiter.retryAfter(user: username, address: context.rateLimitKey) {
            context.logger.warning("sign-in refused", metadata: [
                "reason": "rate-limited", "user": "\(username)", "remote": "\(context.remoteAddress)"])
            RelayMetrics.signIn(outcome: "rate-limited")
            page.error = "Too many failed sign-ins. Try again in \(Self.minutes(wait))."
            var response = formPage(page, status: .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        guard try await store.verifyPassword(user: username, password: password) else {
            limiter.recordFailure(user: username, address: context.rateLimitKey)
            context.logger.warning("sign-in refused", metadata: [
                "reason": "wrong-password", "user": "\(username)", "remote": "\(context.remoteAddress)"])
            RelayMetrics.signIn(outcome: "wrong-password")
            page.error = "The user name or password is not correct."
            return formPage(page, status: .unauthorized)
        }
        // A new session id on every sign-in (no fixation: an id planted before sign-in
        // never becomes a signed-in one), with its own CSRF token.
        context.sessions.createSession(SiteSession(user: username, csrf: CSRF.newToken()), expiresIn: sessionLifetime)
        context.logger.info("signed in", metadata: ["user": "\(username)", "remote": "\(context.remoteAddress)"])
        RelayMetrics.signIn(outcome: "signed-in")
        return Page.seeOther(next)
    }

    func signOut(_ request: Request, _ context: SiteRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let form = (try? URLEncodedFormDecoder().decode(SignOutForm.self, from: String(buffer: body))) ?? SignOutForm()
        guard let session = context.sessions.session else { return Page.seeOther("/signin") }
        guard CSRF.matches(session.csrf, form.csrf) else {
            context.logger.warning("sign-out refused", metadata: ["reason": "csrf", "user": "\(session.user)"])
            return Page.message(status: .forbidden, title: "Form expired",
                                text: "The sign-out form could not be verified. Go back and try again.",
                                link: ("/", "Back to your companies"))
        }
        context.sessions.clearSession()
        context.logger.info("signed out", metadata: ["user": "\(session.user)", "remote": "\(context.remoteAddress)"])
        return Page.seeOther("/signin")
    }

    private func formPage(_ page: SignInPage, status: HTTPResponse.Status) -> Response {
        var response = Page.html(SignInTemplate.name, page, status: status)
        response.setCookie(CSRF.cookie(page.csrf))
        return response
    }

    static func minutes(_ seconds: Int) -> String {
        seconds <= 60 ? "a minute" : "\((seconds + 59) / 60) minutes"
    }
}
