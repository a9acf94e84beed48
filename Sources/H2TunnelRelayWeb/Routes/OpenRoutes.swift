import H2TunnelStore
import H2TunnelTickets
import Hummingbird
import HummingbirdAuth

/// `GET /open/<tenant>[?r=/path]`: checks the grant and the agent, then sends the
/// browser to the tenant host with a fresh ticket (contract "Relay site").
struct OpenRoutes: Sendable {
    let store: any RelayStore
    let presence: any TenantPresence
    let issuer: TicketIssuer
    let settings: SiteSettings

    func add(to router: Router<SiteRequestContext>) {
        router.get("open/:tenant") { request, context in try await open(request, context) }
    }

    func open(_ request: Request, _ context: SiteRequestContext) async throws -> Response {
        let back = LocalPath.validated(request.uri.queryParameters[Substring(Ticket.returnParameter)].map(String.init)) ?? "/"
        guard let session = context.sessions.session else {
            var here = request.uri.path
            if let query = request.uri.query, !query.isEmpty { here += "?\(query)" }
            return Page.seeOther("/signin?next=\(LocalPath.queryEncoded(LocalPath.validated(here) ?? "/"))")
        }
        let id = context.parameters.get("tenant") ?? ""
        guard Self.isTenantID(id), let tenant = try await store.tenant(id: id) else {
            context.logger.info("open refused", metadata: ["reason": "unknown-tenant", "user": "\(session.user)"])
            return Page.message(status: .notFound, title: "No such company",
                                text: "There is no company with this name here.", link: ("/", "Back to your companies"))
        }
        guard try await store.isGranted(user: session.user, tenant: tenant.id) else {
            context.logger.warning("open refused", metadata: [
                "reason": "no-grant", "user": "\(session.user)", "tenant": "\(tenant.id)"])
            return Page.message(status: .forbidden, title: "No access",
                                text: "Your account has not been given access to \(tenant.name).",
                                link: ("/", "Back to your companies"))
        }
        guard presence.isOnline(tenant.id) else {
            context.logger.info("open refused", metadata: [
                "reason": "tenant-offline", "user": "\(session.user)", "tenant": "\(tenant.id)"])
            return Page.message(status: .serviceUnavailable, title: "\(tenant.name) is offline",
                                text: "The company's connector is not connected to the relay right now. Try again later, or ask its administrator.",
                                link: ("/", "Back to your companies"))
        }
        let host = "\(tenant.id).\(settings.tenantDomain)"
        let ticket = try await issuer.issue(user: session.user, host: host)
        context.logger.info("ticket issued", metadata: [
            "user": "\(session.user)", "tenant": "\(tenant.id)", "jti": "\(ticket.claims.id)"])
        let port = settings.portSuffix(connectedPort: context.localPort)
        return Page.seeOther("https://\(host)\(port)\(Ticket.redeemPath)?\(Ticket.parameter)=\(ticket.token)"
            + "&\(Ticket.returnParameter)=\(LocalPath.queryEncoded(back))")
    }

    /// A tenant id is one lowercase DNS label (RFC 1035 §2.3.1): the first label of its host.
    static func isTenantID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-")
        else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}
