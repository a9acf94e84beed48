import H2TunnelCore
import Testing

@Suite struct RelayInstanceNameTests {
    @Test func acceptsShortPrintableTokens() {
        for name in ["relay-a", "eu1.relay.example.com", "R_2", "x", String(repeating: "a", count: 64)] {
            #expect(RelayInstanceName.isValid(name), "\(name)")
        }
    }

    /// What a header may carry but `/status`, a log line or a terminal must not show.
    @Test func refusesEmptyLongAndUnprintable() {
        for name in ["", String(repeating: "a", count: 65), "relay a", "relay\u{1b}[31m", "relay\n", "relay\t",
                     "rélay", "a/b", "a:b", "a\u{0}b"] {
            #expect(!RelayInstanceName.isValid(name), "\(name.debugDescription)")
        }
    }

    @Test func sanitizedHostNamesAreValid() {
        #expect(RelayInstanceName.sanitized("my host (1)") == "my-host--1-")
        #expect(RelayInstanceName.sanitized(String(repeating: "h", count: 100))?.utf8.count == 64)
        #expect(RelayInstanceName.sanitized("") == nil)
        #expect(RelayInstanceName.isValid(RelayInstanceName.local))
    }
}
