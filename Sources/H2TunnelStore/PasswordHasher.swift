internal import COpenSSL
import Foundation

/// Password hashes with scrypt (RFC 7914) through OpenSSL's `EVP_PBE_scrypt`: memory-hard,
/// so a stolen store costs an attacker memory as well as time per guess, and it comes from
/// the one crypto library the project already links (DESIGN "Stack").
///
/// A hash is stored as `scrypt$N=32768,r=8,p=1$<salt>$<hash>` (standard base64): the cost
/// parameters travel with each hash, so they can rise later while old hashes still verify.
public struct PasswordHasher: Sendable {
    /// scrypt's cost: `n` (CPU/memory, a power of two), `r` (block size), `p` (parallelism).
    public struct Parameters: Sendable, Equatable {
        public var n: UInt64
        public var r: UInt64
        public var p: UInt64
        public init(n: UInt64, r: UInt64, p: UInt64) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// RFC 7914 §2's interactive-login figure raised to N = 2^15: 32 MiB and tens of
        /// milliseconds per hash (README "Relay store" has the figure measured here).
        public static let standard = Parameters(n: 1 << 15, r: 8, p: 1)

        /// Bytes OpenSSL allocates: V is 128·r·N, B is 128·r·p, plus its own slack.
        var memory: UInt64 { 128 * r * (n + p + 2) }

        /// Bounds for parameters read back from a stored hash: a corrupt or hostile row
        /// must not make one sign-in allocate gigabytes.
        var isAcceptable: Bool {
            n >= 2 && n <= 1 << 20 && n & (n - 1) == 0 && (1...32).contains(r) && (1...16).contains(p)
                && memory <= 256 << 20
        }
    }

    public static let saltLength = 16
    public static let hashLength = 32
    static let scheme = "scrypt"

    public let parameters: Parameters

    public init(parameters: Parameters = .standard) {
        self.parameters = parameters
    }

    /// A fresh random salt and the encoded hash of `password`.
    public func hash(_ password: String) throws(StoreError) -> String {
        var salt = [UInt8](repeating: 0, count: Self.saltLength)
        guard RAND_bytes(&salt, Int32(salt.count)) == 1 else {
            throw StoreError(.unavailable, "no random bytes for a password salt")
        }
        guard let derived = Self.derive(password, salt: salt, parameters: parameters, length: Self.hashLength) else {
            throw StoreError(.unavailable, "scrypt failed")
        }
        let p = parameters
        return "\(Self.scheme)$N=\(p.n),r=\(p.r),p=\(p.p)$\(Data(salt).base64EncodedString())$\(Data(derived).base64EncodedString())"
    }

    /// True when `encoded` is a hash of `password`. A malformed or out-of-bounds string is
    /// false, never a crash: the store is read from a file anyone with access could edit.
    public func verify(_ password: String, against encoded: String) -> Bool {
        guard let stored = Self.decode(encoded),
              let derived = Self.derive(password, salt: stored.salt, parameters: stored.parameters, length: stored.hash.count)
        else { return false }
        // Constant time: how many leading bytes matched must not show in the timing.
        return derived.withUnsafeBytes { a in
            stored.hash.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }

    /// A hash no password matches, checked against when a user does not exist so that an
    /// unknown name costs the same scrypt as a known one (no timing oracle on names).
    /// Its parameters are this hasher's, so it costs what a fresh user's hash costs.
    public func dummyVerify(_ password: String) {
        let zeros = Data(count: Self.saltLength).base64EncodedString()
        let hash = Data(count: Self.hashLength).base64EncodedString()
        let p = parameters
        _ = verify(password, against: "\(Self.scheme)$N=\(p.n),r=\(p.r),p=\(p.p)$\(zeros)$\(hash)")
    }

    static func decode(_ encoded: String) -> (parameters: Parameters, salt: [UInt8], hash: [UInt8])? {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0] == scheme else { return nil }
        var values: [Substring: UInt64] = [:]
        for pair in fields[1].split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2, let value = UInt64(parts[1]), values.updateValue(value, forKey: parts[0]) == nil
            else { return nil }
        }
        guard values.count == 3, let n = values["N"], let r = values["r"], let p = values["p"],
              let salt = Data(base64Encoded: String(fields[2])), (8...64).contains(salt.count),
              let hash = Data(base64Encoded: String(fields[3])), (16...64).contains(hash.count)
        else { return nil }
        let parameters = Parameters(n: n, r: r, p: p)
        guard parameters.isAcceptable else { return nil }
        return (parameters, Array(salt), Array(hash))
    }

    private static func derive(_ password: String, salt: [UInt8], parameters: Parameters, length: Int) -> [UInt8]? {
        let secret = Array(password.utf8)
        var key = [UInt8](repeating: 0, count: length)
        // maxmem 0 would mean OpenSSL's 32 MiB default, just below what N = 2^15, r = 8 needs.
        let maxmem = parameters.memory + (1 << 20)
        let status = secret.withUnsafeBufferPointer { pass in
            pass.withMemoryRebound(to: CChar.self) { pass in
                EVP_PBE_scrypt(pass.baseAddress, pass.count, salt, salt.count,
                               parameters.n, parameters.r, parameters.p, maxmem, &key, key.count)
            }
        }
        return status == 1 ? key : nil
    }
}
