import ArgumentParser

/// `relay grant USER TENANT`: the user may open the tenant from the relay's site.
struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Let a user open a tenant.")
    @Argument(help: "The user's name.") var user: String
    @Argument(help: "The tenant id.") var tenant: String
    @OptionGroup var store: StoreOption

    func run() async throws {
        try await store.with { try await $0.grant(user: user, tenant: tenant) }
    }
}

/// `relay revoke USER TENANT`: takes a grant back. Sessions the agent already issued run
/// out at their own lifetime (agent `--session-lifetime`).
struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Take back a user's access to a tenant.")
    @Argument(help: "The user's name.") var user: String
    @Argument(help: "The tenant id.") var tenant: String
    @OptionGroup var store: StoreOption

    func run() async throws {
        try await store.with { try await $0.revoke(user: user, tenant: tenant) }
    }
}
