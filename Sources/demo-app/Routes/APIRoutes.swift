import Foundation
import NIOHTTP1

/// The JSON API under `/api`: who is calling, and the company's ledgers and
/// vouchers. Amounts are integers in minor units (cents) so no client rounds.
struct APIRoutes {
    let book: LedgerBook

    /// A ledger as the API shows it, with its balance computed now.
    private struct LedgerView: Encodable {
        let id: String
        let name: String
        let kind: Ledger.Kind
        let balance: Int
    }

    private struct LedgerList: Encodable {
        let company: String
        let ledgers: [LedgerView]
    }

    private struct VoucherList: Encodable {
        let ledger: LedgerView
        let vouchers: [Voucher]
    }

    /// nil when the path is not the API's, so the caller answers 404.
    func respond(to request: DemoRequest) -> DemoResponse? {
        let segments = request.segments
        guard segments.first == "api" else { return nil }
        switch (request.method, Array(segments.dropFirst())) {
        case (.GET, ["whoami"]):
            return .json(WhoAmI(request))
        case (.GET, ["ledgers"]):
            return .json(LedgerList(company: book.company, ledgers: book.ledgers.map(view)))
        case (.GET, let rest) where rest.count == 2 && rest[0] == "ledgers":
            guard let ledger = book.ledger(String(rest[1])) else { return .error(.notFound, "no such ledger") }
            return .json(view(ledger))
        case (.GET, let rest) where rest.count == 3 && rest[0] == "ledgers" && rest[2] == "vouchers":
            guard let ledger = book.ledger(String(rest[1])) else { return .error(.notFound, "no such ledger") }
            return .json(VoucherList(ledger: view(ledger), vouchers: book.vouchers(on: ledger.id)))
        case (.GET, let rest) where rest.count == 2 && rest[0] == "vouchers":
            guard let id = Int(rest[1]), let voucher = book.voucher(id) else {
                return .error(.notFound, "no such voucher")
            }
            return .json(voucher)
        case (.POST, ["vouchers"]):
            return post(request)
        case (_, ["ledgers"]), (_, ["vouchers"]), (_, ["whoami"]):
            var response = DemoResponse.error(.methodNotAllowed, "method not allowed")
            response.headers.add(name: "allow", value: segments.last == "vouchers" ? "POST" : "GET")
            return response
        default:
            return nil
        }
    }

    /// `POST /api/vouchers`: 201 with the booked voucher and its Location,
    /// 400 with a reason for anything that is not a valid balanced voucher.
    private func post(_ request: DemoRequest) -> DemoResponse {
        let type = request.header("content-type")?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else {
            return .error(.unsupportedMediaType, "send the voucher as application/json")
        }
        let draft: VoucherDraft
        do {
            draft = try JSONDecoder().decode(VoucherDraft.self, from: Data(request.body.readableBytesView))
        } catch {
            return .error(.badRequest, "expected {\"date\": \"YYYY-MM-DD\", \"text\": \"...\", "
                + "\"lines\": [{\"ledger\": \"1930\", \"amount\": 100}, ...]}")
        }
        do throws(LedgerBook.BookingError) {
            let voucher = try book.book(draft)
            var response = DemoResponse.json(voucher, status: .created)
            response.headers.add(name: "location", value: "/api/vouchers/\(voucher.id)")
            return response
        } catch {
            switch error {
            case .invalid(let reason):
                return .error(.badRequest, reason.message)
            case .full:
                return .error(.insufficientStorage, "the demo keeps at most \(LedgerBook.maxVouchers) vouchers")
            }
        }
    }

    private func view(_ ledger: Ledger) -> LedgerView {
        LedgerView(id: ledger.id, name: ledger.name, kind: ledger.kind, balance: book.balance(of: ledger.id))
    }
}
