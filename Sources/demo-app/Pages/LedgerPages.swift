import Foundation
import NIOCore

/// The server-rendered pages: the chart of accounts with balances, and one
/// ledger's vouchers. They work without JavaScript; the script only feeds the
/// live element.
struct LedgerPages {
    let book: LedgerBook

    /// How many vouchers the overview lists; the ledger pages list all.
    static let recentCount = 8

    func respond(to request: DemoRequest) -> DemoResponse? {
        let segments = request.segments
        let layout = PageLayout(company: book.company, user: request.header("x-forwarded-user"))
        if request.method == .POST && segments == ["app", "vouchers"] {
            return book(request, layout: layout)
        }
        guard request.method == .GET else { return nil }
        switch segments {
        case ["app"]:
            let today = String(Date.now.ISO8601Format().prefix(10))
            return .html(layout.render(title: "Overview", content: overview(form: VoucherForm(today: today))))
        case let s where s.count == 3 && s[0] == "app" && s[1] == "ledgers":
            guard let ledger = book.ledger(String(s[2])) else {
                return .html(layout.render(title: "Not found", content: """
                    <h1>No such ledger</h1><p><a href="/app">Back to all ledgers</a></p>
                    """), status: .notFound)
            }
            return .html(layout.render(title: "\(ledger.id) \(ledger.name)", content: detail(ledger)))
        case ["app", "static", "app.css"]:
            return .asset("text/css; charset=utf-8", Assets.css)
        case ["app", "static", "live.js"]:
            return .asset("text/javascript; charset=utf-8", Assets.liveScript)
        default:
            return nil
        }
    }

    /// `POST /app/vouchers` from the form: 303 back to the overview (so a
    /// reload does not post twice), or the overview again with the form as
    /// typed and the reason, 400.
    private func book(_ request: DemoRequest, layout: PageLayout) -> DemoResponse {
        let form = VoucherForm(urlEncoded: String(buffer: request.body))
        let reason: String
        switch form.draft() {
        case .failure(let error):
            reason = error.message
        case .success(let draft):
            do throws(LedgerBook.BookingError) {
                let voucher = try book.book(draft)
                var response = DemoResponse.text(.seeOther, "booked voucher \(voucher.id)\n")
                response.headers.add(name: "location", value: "/app#recent-vouchers-\(voucher.id)")
                return response
            } catch {
                switch error {
                case .invalid(let invalid): reason = invalid.message
                case .full: reason = "the demo keeps at most \(LedgerBook.maxVouchers) vouchers"
                }
            }
        }
        return .html(layout.render(title: "Overview", content: overview(form: form, error: reason)),
                     status: .badRequest)
    }

    private func overview(form: VoucherForm, error: String? = nil) -> String {
        let rows = book.ledgers.map { ledger in
            """
            <tr class="ledger" data-ledger="\(HTML.escape(ledger.id))">
            <td class="num">\(HTML.escape(ledger.id))</td>
            <td><a href="/app/ledgers/\(HTML.escape(ledger.id))">\(HTML.escape(ledger.name))</a></td>
            <td class="kind">\(ledger.kind.rawValue)</td>
            <td class="amount">\(Money.format(book.balance(of: ledger.id)))</td>
            </tr>
            """
        }.joined(separator: "\n")
        let recent = book.vouchers().suffix(Self.recentCount).reversed()
        return """
        <h1>Ledgers</h1>
        <div class="card"><div class="scroll"><table id="ledgers">
        <thead><tr><th class="num">No.</th><th>Ledger</th><th class="kind">Kind</th><th class="amount">Balance</th></tr></thead>
        <tbody>
        \(rows)
        </tbody></table></div></div>
        <h2>Recent vouchers</h2>
        \(voucherTable(Array(recent), id: "recent-vouchers") { voucher in
            voucher.lines.filter { $0.amount > 0 }.reduce(0) { $0 + $1.amount }
        })
        \(form.render(ledgers: book.ledgers, error: error))
        """
    }

    private func detail(_ ledger: Ledger) -> String {
        let vouchers = book.vouchers(on: ledger.id)
        return """
        <p class="crumbs"><a href="/app">Ledgers</a> ›</p>
        <h1><span class="num">\(HTML.escape(ledger.id))</span> \(HTML.escape(ledger.name))</h1>
        <p class="summary">\(ledger.kind.rawValue.capitalized) · balance
        <strong id="balance">\(Money.format(book.balance(of: ledger.id)))</strong></p>
        \(voucherTable(vouchers, id: "vouchers") { $0.amount(on: ledger.id) })
        """
    }

    /// One table shape for both pages; `amount` picks what the column shows
    /// (the voucher's total on the overview, the amount on this ledger on a
    /// ledger page).
    private func voucherTable(_ vouchers: [Voucher], id: String, amount: (Voucher) -> Int) -> String {
        guard !vouchers.isEmpty else { return #"<p class="empty">No vouchers yet.</p>"# }
        let rows = vouchers.map { voucher in
            """
            <tr class="voucher" id="\(id)-\(voucher.id)" data-voucher="\(voucher.id)">
            <td class="date">\(HTML.escape(voucher.date))</td><td class="num">\(voucher.id)</td>
            <td>\(HTML.escape(voucher.text))</td><td class="amount">\(Money.format(amount(voucher)))</td>
            </tr>
            """
        }.joined(separator: "\n")
        return """
        <div class="card"><div class="scroll"><table id="\(id)">
        <thead><tr><th class="date">Date</th><th class="num">No.</th><th>Text</th><th class="amount">Amount</th></tr></thead>
        <tbody>
        \(rows)
        </tbody></table></div></div>
        """
    }
}
