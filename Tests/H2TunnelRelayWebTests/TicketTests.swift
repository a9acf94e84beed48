import Foundation
import H2TunnelTickets
import Testing

/// The ticket the relay signs and the agent checks (Ed25519 JWT, RFC 8037).
@Suite struct TicketTests {
    let host = "acme.tunnel.localhost"

    @Test func issuedTicketVerifiesWithItsClaims() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        let (token, issued) = try await issuer.issue(user: "alice", host: "ACME.tunnel.localhost")
        let claims = try await verifier.verify(token, host: host)
        // JWT times are whole seconds (RFC 7519 §2 NumericDate).
        #expect(claims.id == issued.id)
        #expect(abs(claims.expires.timeIntervalSince(issued.expires)) < 1)
        #expect(claims.user == "alice")
        #expect(claims.aud.value == [host])
        #expect(claims.expires.timeIntervalSince(claims.iat.value) <= Ticket.maxLifetime)
        #expect(claims.id.count == 32)
        // The header names the algorithm: EdDSA.
        let header = try #require(token.split(separator: ".").first)
        let json = try #require(Data(base64URL: String(header)))
        #expect(String(decoding: json, as: UTF8.self).contains("\"EdDSA\""))
    }

    @Test func everyTicketHasItsOwnID() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let a = try await issuer.issue(user: "alice", host: host)
        let b = try await issuer.issue(user: "alice", host: host)
        #expect(a.claims.id != b.claims.id)
    }

    @Test func lifetimeIsCappedAtSixtySeconds() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let (_, claims) = try await issuer.issue(user: "alice", host: host, lifetime: 3600)
        #expect(claims.expires.timeIntervalSince(claims.iat.value) == Ticket.maxLifetime)
    }

    @Test func expiredTicketIsRefused() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        let (token, _) = try await issuer.issue(user: "alice", host: host, now: Date().addingTimeInterval(-120))
        await #expect(throws: TicketError(.expired)) { try await verifier.verify(token, host: host) }
    }

    @Test func otherTenantsTicketIsRefused() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        let (token, _) = try await issuer.issue(user: "alice", host: "globex.tunnel.localhost")
        await #expect(throws: TicketError(.wrongAudience)) { try await verifier.verify(token, host: host) }
    }

    @Test func ticketSignedByAnotherKeyIsRefused() async throws {
        let forger = try await TicketIssuer(privateKeyPEM: TestKeys.otherSigningKey)
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        let (token, _) = try await forger.issue(user: "alice", host: host)
        await #expect(throws: TicketError(.badSignature)) { try await verifier.verify(token, host: host) }
    }

    @Test func tamperedPayloadIsRefused() async throws {
        let issuer = try await TicketIssuer(privateKeyPEM: TestKeys.signingKey)
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        let (token, _) = try await issuer.issue(user: "alice", host: host)
        var parts = token.split(separator: ".").map(String.init)
        let payload = try #require(Data(base64URL: parts[1]))
        let forged = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"alice\"", with: "\"mallory\"")
        parts[1] = Data(forged.utf8).base64URLEncoded()
        await #expect(throws: TicketError(.badSignature)) { try await verifier.verify(parts.joined(separator: "."), host: host) }
    }

    @Test func garbageIsMalformed() async throws {
        let verifier = try await TicketVerifier(publicKeyPEM: TestKeys.publicKey)
        for token in ["", "abc", "a.b.c", String(repeating: "x", count: 5000)] {
            await #expect(throws: TicketError(.malformed)) { try await verifier.verify(token, host: host) }
        }
    }

    @Test func keysThatAreNotEd25519PEMAreRefused() async {
        await #expect(throws: (any Error).self) { try await TicketIssuer(privateKeyPEM: "not a key") }
        await #expect(throws: (any Error).self) { try await TicketVerifier(publicKeyPEM: TestKeys.signingKey) }
    }
}

extension Data {
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    func base64URLEncoded() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
