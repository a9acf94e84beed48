import Foundation
import NIOConcurrencyHelpers

/// Ticket ids already redeemed, each kept until its ticket would have expired anyway:
/// a ticket is single use (issue 13), and the relay's signature alone cannot say so.
///
/// Bounded: when full of unexpired ids it refuses new tickets rather than forget an old
/// one, since forgetting would let that ticket be replayed. At 60 s per ticket the
/// default cap allows ~1,600 redemptions a second before anyone is refused.
final class TicketReplayCache: Sendable {
    enum Outcome: Equatable { case fresh, replayed, full }

    private let capacity: Int
    private let ids = NIOLockedValueBox<[String: Date]>([:])

    init(capacity: Int = 100_000) { self.capacity = capacity }

    /// Records `id` as redeemed unless it already was.
    func redeem(_ id: String, expires: Date, now: Date = Date()) -> Outcome {
        ids.withLockedValue { ids in
            if let seen = ids[id], seen > now { return .replayed }
            if ids.count >= capacity { ids = ids.filter { $0.value > now } }
            guard ids.count < capacity else { return .full }
            ids[id] = expires
            return .fresh
        }
    }
}
