import Foundation
import JWTKit

/// What a sign-in ticket says: user `sub` may open the tenant host `aud`, once (`jti`),
/// until `exp`. The relay signs it with Ed25519 (`alg: EdDSA`, RFC 8037); the agent
/// checks it with the relay's public key. The relay never sees what follows: the
/// ticket travels inside the browser's end-to-end TLS to the tenant host.
public struct TicketClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var jti: IDClaim
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim

    public var user: String { sub.value }
    public var id: String { jti.value }
    public var expires: Date { exp.value }

    public init(user: String, host: String, id: String, issued: Date, expires: Date) {
        sub = SubjectClaim(value: user)
        aud = AudienceClaim(value: [host])
        jti = IDClaim(value: id)
        iat = IssuedAtClaim(value: issued)
        exp = ExpirationClaim(value: expires)
    }

    /// Signature checks come first (JWTKit); this is the rest: not expired, and no
    /// lifetime beyond what the relay may issue, so a leaked signing key's tickets
    /// still cannot outlive `Ticket.maxLifetime` by much.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard exp.value.timeIntervalSince(iat.value) <= Ticket.maxLifetime + 1 else {
            throw JWTError.claimVerificationFailure(failedClaim: exp, reason: "lifetime over \(Int(Ticket.maxLifetime)) s")
        }
    }
}

public enum Ticket {
    /// The longest a ticket may live: a browser follows the redirect at once.
    public static let maxLifetime: TimeInterval = 60
    /// The reserved path on every tenant host where the agent redeems tickets.
    public static let redeemPath = "/.h2tunnel/ticket"
    /// The query parameter that carries the ticket.
    public static let parameter = "t"
    /// The query parameter with the local path to land on after redemption.
    public static let returnParameter = "r"
}

/// Why a ticket was refused; `description` is what the agent logs and shows.
public struct TicketError: Error, CustomStringConvertible, Equatable {
    public enum Reason: String, Sendable { case malformed, badSignature = "bad-signature", expired, wrongAudience = "wrong-audience", replayed }
    public var reason: Reason
    public var description: String { "ticket refused: \(reason.rawValue)" }
    public init(_ reason: Reason) { self.reason = reason }
}

/// The relay's side: signs tickets with the Ed25519 key of `--signing-key`.
public struct TicketIssuer: Sendable {
    private let keys: JWTKeyCollection

    /// `pem`: a PKCS#8 Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    public init(privateKeyPEM pem: String) async throws {
        let key = try EdDSA.PrivateKey(pem: pem)
        keys = await JWTKeyCollection().add(eddsa: key)
    }

    /// A new ticket for `user` to open `host` (the tenant's name, no port).
    public func issue(user: String, host: String, lifetime: TimeInterval = Ticket.maxLifetime,
                      now: Date = Date()) async throws -> (token: String, claims: TicketClaims) {
        let claims = TicketClaims(user: user, host: host.lowercased(), id: Self.randomID(),
                                  issued: now, expires: now.addingTimeInterval(min(lifetime, Ticket.maxLifetime)))
        return (try await keys.sign(claims), claims)
    }

    /// 128 random bits, hex: the ticket id (`jti`) the agent remembers to refuse a replay.
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// The agent's side: checks signature, expiry and audience. Single use is the caller's
/// (`TicketReplayCache`), since only it knows what was redeemed.
public struct TicketVerifier: Sendable {
    private let keys: JWTKeyCollection

    /// `pem`: the relay's Ed25519 public key (SubjectPublicKeyInfo PEM).
    public init(publicKeyPEM pem: String) async throws {
        let key = try EdDSA.PublicKey(pem: pem)
        keys = await JWTKeyCollection().add(eddsa: key)
    }

    public func verify(_ token: String, host: String) async throws(TicketError) -> TicketClaims {
        let claims: TicketClaims
        do {
            claims = try await keys.verify(token, as: TicketClaims.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure: throw TicketError(.expired)
            case .signatureVerificationFailed, .unknownKID, .missingKIDHeader: throw TicketError(.badSignature)
            default: throw TicketError(.malformed)
            }
        } catch {
            throw TicketError(.malformed)
        }
        guard claims.aud.value.contains(host.lowercased()) else { throw TicketError(.wrongAudience) }
        return claims
    }
}
