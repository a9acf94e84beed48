import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Counts failed sign-ins per user and per remote address over a sliding window and
/// says when either has had too many (OWASP Authentication Cheat Sheet, "Account
/// lockout"): the per-user limit stops guessing one password from many addresses, the
/// per-address limit stops one address trying many users.
///
/// Memory is bounded: at most `limit` timestamps per key and `maxKeys` keys per kind.
/// When a kind is full, expired keys go first, then the one whose last failure is
/// oldest — an attacker spreading over very many addresses can thus push out an old
/// entry, but never grow the relay's memory.
final class SignInRateLimiter: Sendable {
    struct Policy: Sendable {
        var limit: Int
        var window: TimeInterval
    }

    private struct Table {
        var failures: [String: [Date]] = [:]
        let policy: Policy
        let maxKeys: Int

        /// Seconds until `key` may try again, or nil when it may now.
        mutating func retryAfter(_ key: String, now: Date) -> TimeInterval? {
            guard var times = failures[key] else { return nil }
            times.removeAll { now.timeIntervalSince($0) >= policy.window }
            if times.isEmpty { failures[key] = nil; return nil }
            failures[key] = times
            guard times.count >= policy.limit, let oldest = times.first else { return nil }
            return oldest.addingTimeInterval(policy.window).timeIntervalSince(now)
        }

        mutating func record(_ key: String, now: Date) {
            if failures[key] == nil, failures.count >= maxKeys { makeRoom(now: now) }
            var times = failures[key, default: []]
            times.removeAll { now.timeIntervalSince($0) >= policy.window }
            times.append(now)
            if times.count > policy.limit { times.removeFirst(times.count - policy.limit) }
            failures[key] = times
        }

        private mutating func makeRoom(now: Date) {
            failures = failures.filter { _, times in times.last.map { now.timeIntervalSince($0) < policy.window } ?? false }
            guard failures.count >= maxKeys,
                  let stalest = failures.min(by: { ($0.value.last ?? .distantPast) < ($1.value.last ?? .distantPast) })
            else { return }
            failures[stalest.key] = nil
        }
    }

    private struct State {
        var users: Table
        var addresses: Table
    }

    private let state: NIOLockedValueBox<State>

    /// Defaults: 5 failures per user and 20 per address in 15 minutes, 10,000 keys each.
    init(perUser: Policy = Policy(limit: 5, window: 15 * 60),
         perAddress: Policy = Policy(limit: 20, window: 15 * 60), maxKeys: Int = 10_000) {
        state = NIOLockedValueBox(State(users: Table(policy: perUser, maxKeys: maxKeys),
                                        addresses: Table(policy: perAddress, maxKeys: maxKeys)))
    }

    /// Whole seconds until this user at this address may try again; nil: go ahead.
    func retryAfter(user: String, address: String, now: Date = Date()) -> Int? {
        let seconds = state.withLockedValue { state -> TimeInterval? in
            let user = state.users.retryAfter(Self.key(user), now: now)
            let address = state.addresses.retryAfter(address, now: now)
            switch (user, address) {
            case (nil, nil): return nil
            case (let a?, let b?): return max(a, b)
            case (let a?, nil), (nil, let a?): return a
            }
        }
        return seconds.map { max(1, Int($0.rounded(.up))) }
    }

    func recordFailure(user: String, address: String, now: Date = Date()) {
        state.withLockedValue { state in
            state.users.record(Self.key(user), now: now)
            state.addresses.record(address, now: now)
        }
    }

    /// Keys tracked now, per kind (tests check the bound).
    var trackedKeys: (users: Int, addresses: Int) {
        state.withLockedValue { ($0.users.failures.count, $0.addresses.failures.count) }
    }

    /// User names are matched case-insensitively here, so `Alice` and `alice` share a limit.
    private static func key(_ user: String) -> String { user.lowercased() }
}
