import Foundation
import H2TunnelCore
import NIOCore
import Testing
@testable import H2TunnelAgent

/// `agent run`'s table: a setting left unset keeps `AgentConfiguration`'s own default, and
/// the rules that tie the tenant key and sign-in settings to the upstream's scheme hold.
@Suite final class AgentSettingsTests {
    /// Stand-in PEM files: the table checks that they read, not what they hold.
    let folder: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("agent-settings-\(UUID())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for name in ["ca.pem", "agent.pem", "agent.key", "tenant.pem", "tenant.key", "signing.pub"] {
            try? "PEM".write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return url.path
    }()

    /// Each test has its own instance and folder; this is its teardown.
    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func configuration(_ extra: [String], upstream: String = "tcp://127.0.0.1:8080",
                       environment: [String: String] = [:]) throws -> AgentConfiguration {
        let arguments = ["--relay", "relay.example.com:443", "--relay-hostname", "agents.relay.example.com",
                         "--relay-ca", "\(folder)/ca.pem", "--cert", "\(folder)/agent.pem", "--key", "\(folder)/agent.key",
                         "--upstream", upstream] + extra
        return try AgentSettings.configuration(AgentSettings.table.resolve(arguments: arguments, environment: environment))
    }

    var tenant: [String] { ["--tenant-cert", "\(folder)/tenant.pem", "--tenant-key", "\(folder)/tenant.key"] }

    @Test func unsetSettingsKeepTheConfigurationDefaults() throws {
        let got = try configuration(tenant)
        let plain = AgentConfiguration(relayHost: "", relayPort: 0, relayHostname: "", relayCAPath: "", certificatePath: "",
                                       privateKeyPath: "", tenantCertificatePath: nil, tenantKeyPath: nil, upstream: .tcp(host: "", port: 0))
        #expect(got.sendTimeout == plain.sendTimeout && got.idleTimeout == plain.idleTimeout)
        #expect(got.handshakeTimeout == plain.handshakeTimeout && got.gracePeriod == plain.gracePeriod)
        #expect(got.reconnectBase == plain.reconnectBase && got.reconnectMax == plain.reconnectMax)
        #expect(got.tcpKeepAlive == plain.tcpKeepAlive && got.sessionLifetime == plain.sessionLifetime)
        #expect(got.http2.pingInterval == plain.http2.pingInterval && got.http2.pingTimeout == plain.http2.pingTimeout)
        #expect(got.adminHost == "127.0.0.1" && got.adminPort == 9091)
        #expect(got.relayHost == "relay.example.com" && got.relayPort == 443 && got.upstream == .tcp(host: "127.0.0.1", port: 8080))
    }

    @Test func settingsReachTheirFields() throws {
        let got = try configuration(tenant + ["--admin-listen", "off", "--idle-timeout", "0", "--ping-interval", "2"],
                                    environment: ["H2TUNNEL_SEND_TIMEOUT": "5", "H2TUNNEL_TCP_KEEPALIVE": "1.5"])
        #expect(got.adminHost == nil && got.idleTimeout == nil && got.http2.pingInterval == .seconds(2))
        #expect(got.sendTimeout == .seconds(5) && got.tcpKeepAlive == 2)
    }

    @Test func theUpstreamDecidesWhatIsRequired() throws {
        #expect(throws: SettingError.self) { try configuration([]) }
        #expect(throws: SettingError.self) { try configuration([], upstream: "tls://127.0.0.1:8443") }
        let passthrough = try configuration(["--tenant-name", "acme.example.com"], upstream: "tls://127.0.0.1:8443")
        #expect(passthrough.tenantKeyPath == nil && passthrough.tenantNames == ["acme.example.com"])
        do {
            _ = try configuration(tenant, upstream: "http://127.0.0.1:8080")
            Issue.record("http:// without --relay-public-key was accepted")
        } catch {
            #expect("\(error)".hasPrefix("missing --relay-public-key"))
        }
        let front = try configuration(tenant + ["--relay-public-key", "\(folder)/signing.pub", "--relay-url", "https://relay.example.com"],
                                      upstream: "http://127.0.0.1:8080")
        #expect(front.relayURL == "https://relay.example.com" && front.relayPublicKeyPath == "\(folder)/signing.pub")
    }
}
