import Foundation

/// A voucher as a client posts it to `POST /api/vouchers`, before it has an id.
/// `validate` is the only way from a draft to a booking, so nothing unchecked
/// reaches the ledgers.
struct VoucherDraft: Sendable, Decodable {
    let date: String
    let text: String
    let lines: [Posting]

    /// Limits that keep one voucher small and readable on the page.
    static let maxTextLength = 200
    static let maxLines = 20
    /// 10 million in major units: far above a demo's needs, far below overflow
    /// when 20 lines and 10,000 vouchers are summed.
    static let maxAmount = 1_000_000_000

    enum Invalid: Error, Equatable {
        case date, textEmpty, textTooLong, textControlCharacters
        case lineCount, unknownLedger(String), zeroAmount, amountTooLarge, unbalanced(Int)

        var message: String {
            switch self {
            case .date: "date must be a calendar date, YYYY-MM-DD"
            case .textEmpty: "text must not be empty"
            case .textTooLong: "text must be at most \(VoucherDraft.maxTextLength) characters"
            case .textControlCharacters: "text must not contain control characters"
            case .lineCount: "a voucher has 2 to \(VoucherDraft.maxLines) lines"
            case .unknownLedger(let id): "unknown ledger '\(id)'"
            case .zeroAmount: "a line's amount must not be zero"
            case .amountTooLarge: "a line's amount must be at most \(VoucherDraft.maxAmount) in minor units"
            case .unbalanced(let sum): "the lines must sum to zero (debits = credits), they sum to \(sum)"
            }
        }
    }

    /// Checks everything a ledger needs; returns the trimmed text.
    func validate(knownLedgers: Set<String>) throws(Invalid) -> String {
        guard Self.isCalendarDate(date) else { throw .date }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .textEmpty }
        guard trimmed.count <= Self.maxTextLength else { throw .textTooLong }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw .textControlCharacters }
        guard (2...Self.maxLines).contains(lines.count) else { throw .lineCount }
        for line in lines {
            guard knownLedgers.contains(line.ledger) else { throw .unknownLedger(line.ledger) }
            guard line.amount != 0 else { throw .zeroAmount }
            guard line.amount.magnitude <= Self.maxAmount else { throw .amountTooLarge }
        }
        let sum = lines.reduce(0) { $0 + $1.amount }
        guard sum == 0 else { throw .unbalanced(sum) }
        return trimmed
    }

    /// YYYY-MM-DD with a real day of that month (leap years per the Gregorian
    /// calendar), years 1900...2999.
    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1900...2999).contains(year), (1...12).contains(month)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}
