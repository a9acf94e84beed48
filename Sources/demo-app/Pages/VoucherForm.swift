import Foundation

/// The "Book a voucher" form on the overview: a plain HTML form posted to
/// `/app/vouchers`, so booking works without JavaScript. People think in one
/// amount moved from one ledger to another; the form turns that into the two
/// balancing postings `VoucherDraft` checks.
struct VoucherForm {
    var date = ""
    var text = ""
    var debit = ""
    var credit = ""
    var amount = ""

    /// Reads an `application/x-www-form-urlencoded` body (HTML §4.10.21.8).
    init(urlEncoded body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            switch name {
            case "date": date = value
            case "text": text = value
            case "debit": debit = value
            case "credit": credit = value
            case "amount": amount = value
            default: break
            }
        }
    }

    /// A blank form: today's date and the commonest small booking, an
    /// expense paid from the bank.
    init(today: String) {
        date = today
        debit = "6212"
        credit = "1930"
    }

    private static func decode(_ part: Substring) -> String {
        String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
    }

    /// The draft this form describes, or why it describes none. Ledger,
    /// balance and text checks are `VoucherDraft`'s; the form checks only
    /// what is its own (the amount as typed, two different ledgers).
    func draft() -> Result<VoucherDraft, FormError> {
        guard let minor = Self.minorUnits(amount) else { return .failure(.amount) }
        guard debit != credit else { return .failure(.sameLedger) }
        return .success(VoucherDraft(date: date, text: text, lines: [
            Posting(ledger: debit, amount: minor), Posting(ledger: credit, amount: -minor),
        ]))
    }

    enum FormError: Error {
        case amount, sameLedger

        var message: String {
            switch self {
            case .amount: "amount must be a positive number with at most two decimals, e.g. 1250.00"
            case .sameLedger: "debit and credit must be different ledgers"
            }
        }
    }

    /// "1,250.5" → 125050. Positive, at most two decimals, thousands commas
    /// and spaces allowed; anything else is nil.
    static func minorUnits(_ typed: String) -> Int? {
        let cleaned = typed.filter { $0 != "," && $0 != " " }
        let parts = cleaned.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 12,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let major = Int(parts[0])
        else { return nil }
        var cents = 0
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), let fraction = Int(parts[1]) else { return nil }
            cents = parts[1].count == 1 ? fraction * 10 : fraction
        }
        let total = major * 100 + cents
        return total > 0 ? total : nil
    }

    func render(ledgers: [Ledger], error: String?) -> String {
        func options(selected: String) -> String {
            ledgers.map { ledger in
                let id = HTML.escape(ledger.id)
                return "<option value=\"\(id)\"\(ledger.id == selected ? " selected" : "")>"
                    + "\(id) \(HTML.escape(ledger.name))</option>"
            }.joined()
        }
        let errorBlock = error.map { "<p id=\"form-error\" class=\"alert\" role=\"alert\">\(HTML.escape($0))</p>" } ?? ""
        return """
        <h2>Book a voucher</h2>
        <form id="voucher-form" class="card form" method="post" action="/app/vouchers">
        \(errorBlock)
        <label>Date <input name="date" type="date" required value="\(HTML.escape(date))"></label>
        <label class="wide">Text <input name="text" type="text" required maxlength="\(VoucherDraft.maxTextLength)" value="\(HTML.escape(text))"></label>
        <label>Debit <select name="debit">\(options(selected: debit))</select></label>
        <label>Credit <select name="credit">\(options(selected: credit))</select></label>
        <label>Amount <input name="amount" type="text" inputmode="decimal" required placeholder="0.00" value="\(HTML.escape(amount))"></label>
        <button id="voucher-submit" type="submit">Book</button>
        </form>
        """
    }
}
