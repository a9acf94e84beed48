import H2TunnelStore
import Hummingbird
import HummingbirdAuth

/// `GET /`: the signed-in user's companies with their live state.
struct CompanyRoutes: Sendable {
    let store: any RelayStore
    let presence: any TenantPresence

    func add(to router: Router<SiteRequestContext>) {
        router.get("/") { request, context in try await list(request, context) }
    }

    func list(_ request: Request, _ context: SiteRequestContext) async throws -> Response {
        guard let session = context.sessions.session else { return Page.seeOther("/signin") }
        let tenants = try await store.tenants(grantedTo: session.user)
        let companies = tenants.map { tenant in
            CompaniesPage.company(id: tenant.id, name: tenant.name, online: presence.isOnline(tenant.id),
                                  lastSeen: presence.lastSeen(tenant.id))
        }
        return Page.html(CompaniesTemplate.name, CompaniesPage(user: session.user, csrf: session.csrf, companies: companies))
    }
}
