/// One line of a voucher: an amount on one ledger, in minor units (cents).
/// Debits are positive, credits negative, so a balanced voucher sums to zero.
struct Posting: Sendable, Equatable, Codable {
    let ledger: String
    let amount: Int
}

/// A booked voucher: the evidence for one business event, with postings that
/// balance (double-entry bookkeeping).
struct Voucher: Sendable, Equatable, Encodable {
    let id: Int
    /// The booking date, ISO 8601 calendar date ("2026-12-05").
    let date: String
    let text: String
    let lines: [Posting]

    /// The voucher's amount on one ledger (0 if it does not touch it).
    func amount(on ledger: String) -> Int {
        lines.reduce(0) { $0 + ($1.ledger == ledger ? $1.amount : 0) }
    }
}
