extension LedgerBook {
    /// A small, plausible set of books so the page has something to show from
    /// the first request: a chart of accounts and a month of vouchers.
    static func sample(company: String) -> LedgerBook {
        let ledgers = [
            Ledger(id: "1510", name: "Accounts receivable", kind: .asset),
            Ledger(id: "1930", name: "Business account", kind: .asset),
            Ledger(id: "2440", name: "Accounts payable", kind: .liability),
            Ledger(id: "2081", name: "Share capital", kind: .equity),
            Ledger(id: "3010", name: "Sales of services", kind: .income),
            Ledger(id: "5010", name: "Premises rent", kind: .expense),
            Ledger(id: "6212", name: "Telephone and internet", kind: .expense),
        ]
        let entries: [(String, String, [(String, Int)])] = [
            ("2026-11-02", "Share capital paid in", [("1930", 5_000_000), ("2081", -5_000_000)]),
            ("2026-11-03", "Rent for November", [("5010", 1_250_000), ("1930", -1_250_000)]),
            ("2026-11-10", "Invoice 1001, consulting", [("1510", 3_420_000), ("3010", -3_420_000)]),
            ("2026-11-14", "Fibre and phones, November", [("6212", 89_900), ("2440", -89_900)]),
            ("2026-11-24", "Payment of invoice 1001", [("1930", 3_420_000), ("1510", -3_420_000)]),
            ("2026-11-28", "Paid supplier invoice", [("2440", 89_900), ("1930", -89_900)]),
            ("2026-12-01", "Invoice 1002, support plan", [("1510", 1_180_000), ("3010", -1_180_000)]),
            ("2026-12-02", "Rent for December", [("5010", 1_250_000), ("1930", -1_250_000)]),
        ]
        let vouchers = entries.enumerated().map { index, entry in
            Voucher(id: index + 1, date: entry.0, text: entry.1,
                    lines: entry.2.map { Posting(ledger: $0.0, amount: $0.1) })
        }
        return LedgerBook(company: company, ledgers: ledgers, vouchers: vouchers)
    }
}
