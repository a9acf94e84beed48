/// Formats minor units for people: 1234500 → "12,345.00", -89900 → "−899.00".
/// Integer arithmetic only, so no amount is ever rounded on the page.
enum Money {
    static func format(_ minor: Int) -> String {
        let magnitude = minor.magnitude
        let major = String(magnitude / 100)
        let cents = magnitude % 100
        var grouped = ""
        for (index, digit) in major.enumerated() {
            if index > 0 && (major.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (minor < 0 ? "\u{2212}" : "") + grouped + "." + (cents < 10 ? "0" : "") + String(cents)
    }
}
