import H2TunnelCore
import NIOCore
import Testing

/// `--proxy-protocol-from`: which peers must (and alone may) send a PROXY header.
@Suite struct TrustedProxiesTests {
    static func address(_ ip: String) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: 1234) }

    @Test func networksAndSingleAddresses() throws {
        let trusted = try TrustedProxies(["10.0.0.0/8", "192.0.2.7", " 2001:db8::/32 ", "::1"])
        #expect(trusted.contains(try Self.address("10.255.1.2")))
        #expect(!trusted.contains(try Self.address("11.0.0.1")))
        #expect(trusted.contains(try Self.address("192.0.2.7")))
        #expect(!trusted.contains(try Self.address("192.0.2.8")))
        #expect(trusted.contains(try Self.address("2001:db8:ffff::1")))
        #expect(!trusted.contains(try Self.address("2001:db9::1")))
        #expect(trusted.contains(try Self.address("::1")))
        #expect(!trusted.contains(try Self.address("::2")))
        #expect(!trusted.contains(nil))
    }

    @Test func oddPrefixesAndMappedAddresses() throws {
        let trusted = try TrustedProxies(["172.16.0.0/12"])
        #expect(trusted.contains(try Self.address("172.31.255.255")))
        #expect(!trusted.contains(try Self.address("172.32.0.0")))
        #expect(trusted.contains(try Self.address("::ffff:172.16.0.9")))
        let all = try TrustedProxies(["0.0.0.0/0"])
        #expect(all.contains(try Self.address("8.8.8.8")))
        #expect(!all.contains(try Self.address("2001:db8::1")))
        #expect(try TrustedProxies([]).isEmpty)
        #expect(!(try TrustedProxies([])).contains(try Self.address("127.0.0.1")))
    }

    @Test(arguments: ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8", "example.com", "10.0.0.0/8/8",
                      "10.0.0.0/ 8"])
    func badEntriesNameTheFlag(text: String) {
        do {
            _ = try TrustedProxies([text])
            Issue.record("accepted '\(text)'")
        } catch {
            #expect("\(error)".hasPrefix("--proxy-protocol-from: '\(text)'"), "\(error)")
        }
    }
}
