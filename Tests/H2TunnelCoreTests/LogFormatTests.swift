import Foundation
import H2TunnelCore
import Logging
import Testing

/// logfmt values stay one field for a parser; JSON lines parse as JSON.
@Suite struct LogFormatTests {
    @Test func plainValuesStayBare() {
        #expect(KeyValueLogHandler.quoted("not-tls") == "not-tls")
        #expect(KeyValueLogHandler.quoted("127.0.0.1:5555") == "127.0.0.1:5555")
        #expect(KeyValueLogHandler.quoted("[::1]:443") == "[::1]:443")
    }

    @Test func spacesQuotesAndEqualsAreQuoted() {
        #expect(KeyValueLogHandler.quoted("PING not acknowledged") == "\"PING not acknowledged\"")
        #expect(KeyValueLogHandler.quoted("a=b") == "\"a=b\"")
        #expect(KeyValueLogHandler.quoted("say \"hi\"") == "\"say \\\"hi\\\"\"")
        #expect(KeyValueLogHandler.quoted("back\\slash") == "\"back\\\\slash\"")
        #expect(KeyValueLogHandler.quoted("") == "\"\"")
    }

    @Test func controlCharactersCannotForgeALine() {
        let quoted = KeyValueLogHandler.quoted("x\nerror relay: forged")
        #expect(!quoted.contains("\n"))
        #expect(quoted == "\"x\\nerror relay: forged\"")
        #expect(KeyValueLogHandler.quoted("a\u{1}b") == "\"a\\u0001b\"")
    }

    @Test func aMessageWithANewlineIsStillOneLine() {
        let line = KeyValueLogHandler.line(time: "2026-12-06T01:00:00.000Z", level: "debug", label: "relay",
                                           message: "read failed\nerror relay: forged\t", metadata: ["conn": "0123456789ab"])
        #expect(line == "2026-12-06T01:00:00.000Z debug relay: read failed\\nerror relay: forged\\t conn=0123456789ab\n")
        #expect(KeyValueLogHandler.line(time: "t", level: "info", label: "agent", message: "say \"hi\"", metadata: [:])
                == "t info agent: say \"hi\"\n")
    }

    @Test func jsonLineParses() throws {
        let line = JSONLogHandler.line(time: "2026-12-06T01:00:00.000Z", level: "info", label: "relay",
                                       message: "browser \"refused\"\n", metadata: ["reason": "not tls", "b": "\u{1}\\"])
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "browser \"refused\"\n")
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "relay")
        let metadata = try #require(object["metadata"] as? [String: String])
        #expect(metadata == ["reason": "not tls", "b": "\u{1}\\"])
    }
}
