import ArgumentParser
import H2TunnelStore

/// `relay user add|passwd|remove|list`: the people who sign in at the relay's site.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add, change, remove and list the people who sign in at the relay.",
        discussion: """
            Passwords are read from stdin when it is not a terminal (its first line), else
            typed twice at a prompt that does not echo. They are stored as scrypt hashes.
            User names: 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit.
            """,
        subcommands: [Add.self, Passwd.self, Remove.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @Argument(help: "The user's name.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            checkName(name)
            let password = PasswordInput.read(for: name)
            try await store.with { try await $0.addUser(name, password: password) }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password.")
        @Argument(help: "The user's name.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            checkName(name)
            let password = PasswordInput.read(for: name)
            try await store.with { try await $0.setPassword(name, password: password) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user and their grants.")
        @Argument(help: "The user's name.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            try await store.with { try await $0.removeUser(name) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users, one per line.")
        @OptionGroup var store: StoreOption

        func run() async throws {
            for name in try await store.with({ try await $0.users() }) { print(name) }
        }
    }
}

/// A bad name is refused before a password is asked for.
private func checkName(_ name: String) {
    do { try StoreNames.checkUser(name) } catch { fail(error.description) }
}
