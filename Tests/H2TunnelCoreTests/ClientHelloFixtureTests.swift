import Foundation
import H2TunnelCore
import Testing

/// ClientHellos captured from real clients (Fixtures/clienthello/, how in its README):
/// Chromium's carries GREASE, ECH and a post-quantum key share, so it is larger and
/// stranger than what OpenSSL makes in the other tests.
@Suite struct ClientHelloFixtureTests {
    /// Fixtures/ sits at the repository root, two folders above this file's.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/clienthello")

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test(arguments: ["chromium.bin", "curl.bin", "openssl.bin"])
    func parsesCapturedClientHello(name: String) throws {
        let hello = try Self.fixture(name)
        let result = hello.withUnsafeBytes { ClientHelloParser(maxHandshakeBytes: 16 * 1024).parse(bytes: $0) }
        #expect(result == .complete(ClientHelloInfo(serverName: "acme.tunnel.localhost", alpnProtocols: ["h2", "http/1.1"])))
    }

    @Test(arguments: ["chromium.bin", "curl.bin", "openssl.bin"])
    func everyPrefixOfACapturedClientHelloNeedsMore(name: String) throws {
        let hello = try Self.fixture(name)
        for cut in 0..<hello.count {
            let result = hello[..<cut].withUnsafeBytes { ClientHelloParser(maxHandshakeBytes: 16 * 1024).parse(bytes: $0) }
            #expect(result == .needMore, "prefix of \(cut) bytes")
            if result != .needMore { break }
        }
    }
}
