import H2TunnelStore
import H2TunnelTickets
import Hummingbird
import HummingbirdAuth

/// Puts the site's routes and middleware together (also used by the router tests).
enum SiteRouter {
    /// The signed-in site. `sessions` keeps the session data (the cookie holds only a
    /// random id, RFC 6265bis `__Host-` prefix: Secure, Path=/, no Domain).
    static func build(store: any RelayStore, issuer: TicketIssuer, presence: any TenantPresence,
                      settings: SiteSettings, limiter: SignInRateLimiter,
                      sessions: any PersistDriver) -> Router<SiteRequestContext> {
        let router = Router(context: SiteRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(tenantDomain: settings.tenantDomain, publicPort: settings.publicPort))
        router.add(middleware: SessionMiddleware(storage: sessions, configuration: .init(
            sessionCookieParameters: .init(name: sessionCookie, path: "/", secure: true, sameSite: .lax),
            keyPrefix: "relay-site.", defaultSessionExpiration: settings.sessionLifetime)))
        StaticRoutes().add(to: router)
        SignInRoutes(store: store, limiter: limiter, sessionLifetime: settings.sessionLifetime).add(to: router)
        CompanyRoutes(store: store, presence: presence).add(to: router)
        OpenRoutes(store: store, presence: presence, issuer: issuer, settings: settings).add(to: router)
        return router
    }

    /// No store (`relay run` without `--store`): every page says sign-in is off here.
    static func notConfigured(settings: SiteSettings) -> Router<SiteRequestContext> {
        let router = Router(context: SiteRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(tenantDomain: settings.tenantDomain, publicPort: settings.publicPort))
        StaticRoutes().add(to: router)
        let hostname = settings.hostname
        let page: @Sendable (Request, SiteRequestContext) async throws -> Response = { _, _ in
            Page.message(status: .ok, title: "Sign-in is not configured",
                         text: "This is the H2Tunnel relay \(hostname). Sign-in is not configured here (the relay runs without --store).")
        }
        router.get("/", use: page)
        router.get("**", use: page)
        return router
    }

    static let sessionCookie = "__Host-h2t-relay"
}
