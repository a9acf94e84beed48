import Testing
@testable import H2TunnelStore

@Suite struct StoreNamesTests {
    @Test(arguments: ["a", "acme", "globex-2", "0", String(repeating: "a", count: 63)])
    func validTenantIDs(_ id: String) { #expect(StoreNames.isTenantID(id)) }

    @Test(arguments: ["", "-a", "a-", "Acme", "a.b", "a_b", "ü", String(repeating: "a", count: 64), "a b"])
    func invalidTenantIDs(_ id: String) { #expect(!StoreNames.isTenantID(id)) }

    @Test(arguments: ["bob", "alice@example.com", "j.doe", "x_1-2", "7"])
    func validUserNames(_ name: String) { #expect(StoreNames.isUserName(name)) }

    @Test(arguments: ["", "Bob", ".bob", "-bob", "bob smith", "bob\n", "b:ob", String(repeating: "b", count: 65)])
    func invalidUserNames(_ name: String) { #expect(!StoreNames.isUserName(name)) }

    @Test func displayNames() {
        #expect(StoreNames.isDisplayName("Acme Corp. — Zürich"))
        #expect(!StoreNames.isDisplayName(""))
        #expect(!StoreNames.isDisplayName(" Acme"))
        #expect(!StoreNames.isDisplayName("Acme\tCorp"))
        #expect(!StoreNames.isDisplayName(String(repeating: "x", count: 201)))
    }

    @Test func messagesEscapeControlCharacters() {
        #expect(StoreNames.printable("a\nb") == "a\\nb")
    }
}
