import Synchronization

/// The company's books, in memory and shared by every connection. Bounded: at
/// `maxVouchers` it refuses new bookings rather than forget old ones, because
/// dropping a voucher would silently change balances.
final class LedgerBook: Sendable {
    static let maxVouchers = 10_000

    enum BookingError: Error, Equatable {
        case invalid(VoucherDraft.Invalid)
        case full
    }

    let company: String
    let ledgers: [Ledger]
    private let known: Set<String>
    private let vouchers: Mutex<[Voucher]>

    init(company: String, ledgers: [Ledger], vouchers: [Voucher]) {
        self.company = company
        self.ledgers = ledgers
        self.known = Set(ledgers.map(\.id))
        self.vouchers = Mutex(vouchers)
    }

    func ledger(_ id: String) -> Ledger? {
        ledgers.first { $0.id == id }
    }

    func balance(of ledger: String) -> Int {
        vouchers.withLock { $0.reduce(0) { $0 + $1.amount(on: ledger) } }
    }

    var voucherCount: Int { vouchers.withLock(\.count) }

    func voucher(_ id: Int) -> Voucher? {
        vouchers.withLock { all in all.first { $0.id == id } }
    }

    /// The vouchers touching `ledger`, oldest first; all of them when nil.
    func vouchers(on ledger: String? = nil) -> [Voucher] {
        vouchers.withLock { all in
            guard let ledger else { return all }
            return all.filter { $0.lines.contains { $0.ledger == ledger } }
        }
    }

    func book(_ draft: VoucherDraft) throws(BookingError) -> Voucher {
        let text: String
        do { text = try draft.validate(knownLedgers: known) } catch { throw .invalid(error) }
        let result: Voucher? = vouchers.withLock { all in
            guard all.count < Self.maxVouchers else { return nil }
            let voucher = Voucher(id: (all.last?.id ?? 0) + 1, date: draft.date, text: text, lines: draft.lines)
            all.append(voucher)
            return voucher
        }
        guard let result else { throw .full }
        return result
    }
}
