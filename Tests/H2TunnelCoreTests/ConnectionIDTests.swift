import H2TunnelCore
import Testing

@Suite struct ConnectionIDTests {
    /// 12 lower-case hex digits (48 random bits, leading zeros kept), a new one each time.
    @Test func twelveHexDigitsEachTimeNew() {
        let ids = (0..<2000).map { _ in ConnectionID.make() }
        for id in ids {
            #expect(id.utf8.count == 12)
            #expect(id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        }
        #expect(Set(ids).count == ids.count)
        // Over 2,000 ids every digit position takes more than one value (no fixed padding).
        for position in 0..<12 {
            let seen = Set(ids.map { Array($0.utf8)[position] })
            #expect(seen.count > 1)
        }
    }
}
