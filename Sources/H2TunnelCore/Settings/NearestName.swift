/// The known setting a misspelt name most likely meant ("lisen" → "listen"): the closest
/// by edit distance, if within two edits, so a typo's error says what to write instead.
enum NearestName {
    static func suggestion(for name: String, among known: some Sequence<String>, prefix: String = "") -> String {
        let typed = Array(name.prefix(80))
        let best = known.map { ($0, distance(typed, Array($0))) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        return best.map { "did you mean '\(prefix)\($0.0)'? " } ?? ""
    }

    /// Levenshtein distance, one row at a time.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for (j, y) in b.enumerated() {
                let substitution = previous + (x == y ? 0 : 1)
                previous = row[j + 1]
                row[j + 1] = min(substitution, row[j] + 1, row[j + 1] + 1)
            }
        }
        return row[b.count]
    }
}
