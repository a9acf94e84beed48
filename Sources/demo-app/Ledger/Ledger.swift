/// One account of the company's chart of accounts. The balance is not stored
/// here: it is the sum of the postings on it, so it can never drift.
struct Ledger: Sendable, Equatable {
    enum Kind: String, Sendable, Encodable {
        case asset, liability, equity, income, expense
    }

    /// The account number, as accountants write it ("1930").
    let id: String
    let name: String
    let kind: Kind
}
