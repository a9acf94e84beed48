import Foundation
import H2TunnelAgent
import Testing

@Suite struct AgentStatusTests {
    static let down = AgentStatus(tenant: "acme", connected: false, relay: "relay.example.com:443", relayAddress: nil,
                                  connectedSince: nil, openStreams: 0, lastError: nil, phase: "starting")

    /// Every key in every answer: absent values are JSON null, not missing keys.
    @Test func jsonHasEveryKeyWithNulls() throws {
        let object = try #require(JSONSerialization.jsonObject(with: Data(Self.down.json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["tenant", "connected", "relay", "relayAddress", "relayInstance", "connectedSince",
                                     "openStreams", "lastError", "phase"])
        #expect(object["relayAddress"] is NSNull && object["relayInstance"] is NSNull && object["lastError"] is NSNull)
        #expect(try JSONDecoder().decode(AgentStatus.self, from: Data(Self.down.json.utf8)) == Self.down)
    }

    @Test func linesSayConnectedOrNot() {
        #expect(Self.down.lines == ["not connected to relay relay.example.com:443", "tenant: acme", "open streams: 0",
                                    "last error: none", "phase: starting"])
        var up = Self.down
        up.connected = true
        up.relayAddress = "192.0.2.7:443"
        up.relayInstance = "relay-b"
        up.connectedSince = "2026-12-06T03:00:00Z"
        up.openStreams = 3
        up.lastError = "relay connection closed: connection reset by peer"
        up.phase = "ready"
        #expect(up.lines == ["connected to relay relay.example.com:443", "tenant: acme", "relay instance: relay-b (192.0.2.7:443)",
                             "since: 2026-12-06T03:00:00Z", "open streams: 3",
                             "last error: relay connection closed: connection reset by peer", "phase: ready"])
        // Connected, the name not told yet (an older relay, or before its hello).
        up.relayInstance = nil
        #expect(up.lines.contains("relay instance: unknown (192.0.2.7:443)"))
    }
}
