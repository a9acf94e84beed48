#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The checks `Setting`'s converters share; each throws a `SettingProblem` worded to follow
/// the setting's name ("must be between 1 and 1024, got 0").
enum SettingParse {
    static func text(_ input: SettingInput) throws -> String {
        switch input {
        case .text(let text): return text
        case .number(let number): return format(number)
        case .list: throw SettingProblem("must be a single value, not a list")
        }
    }

    static func number(_ input: SettingInput, in range: ClosedRange<Double>) throws -> Double {
        let number: Double
        switch input {
        case .number(let value): number = value
        case .text(let text):
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                throw SettingProblem("must be a number, got '\(text.prefix(80))'")
            }
            number = value
        case .list: throw SettingProblem("must be a number, not a list")
        }
        // Unchecked, a negative reconnect delay or an infinite grace period traps hours later.
        guard number.isFinite, range.contains(number) else {
            throw SettingProblem("must be between \(format(range.lowerBound)) and \(format(range.upperBound)), got \(format(number))")
        }
        return number
    }

    static func whole(_ input: SettingInput, in range: ClosedRange<Double>) throws -> Int {
        let number = try number(input, in: range)
        guard number == number.rounded() else { throw SettingProblem("must be a whole number, got \(format(number))") }
        return Int(number)
    }

    /// Opens and reads one byte: a missing file, a directory or a permission fails here with
    /// the system's reason, at start, instead of at the first handshake or reload.
    static func checkReadable(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw SettingProblem("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var byte: UInt8 = 0
        guard read(descriptor, &byte, 1) >= 0 else {
            throw SettingProblem("cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func describe(_ range: ClosedRange<Double>) -> String {
        "\(format(range.lowerBound)) to \(format(range.upperBound))"
    }

    static func alternatives(_ choices: [String]) -> String {
        guard let last = choices.last, choices.count > 1 else { return choices.first ?? "" }
        return choices.dropLast().joined(separator: ", ") + " or " + last
    }

    /// 15 not 15.0; 0.1 as typed.
    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}
