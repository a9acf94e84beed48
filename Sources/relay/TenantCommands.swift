import ArgumentParser
import H2TunnelStore

/// `relay tenant add|list|remove`: the companies the relay serves, `<id>.<tenant-domain>`.
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Add, list and remove the companies (tenants) the relay serves.",
        discussion: """
            A tenant id is the first label of the company's host, <id>.<tenant-domain>: a DNS
            label of a-z 0-9 -. With --store, `relay run` refuses browsers for ids not listed
            here as unknown-tenant, and listed ones without an agent as tenant-offline.
            """,
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a tenant.")
        @Argument(help: "The tenant id (a DNS label).") var id: String
        @Option(help: "The name people see, e.g. \"Acme Corp\".") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            try await store.with { try await $0.addTenant(Tenant(id: id, name: name)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenants, one per line: id<TAB>name.")
        @OptionGroup var store: StoreOption

        func run() async throws {
            for tenant in try await store.with({ try await $0.allTenants() }) { print("\(tenant.id)\t\(tenant.name)") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tenant and every grant to it.")
        @Argument(help: "The tenant id.") var id: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            try await store.with { try await $0.removeTenant(id) }
        }
    }
}
