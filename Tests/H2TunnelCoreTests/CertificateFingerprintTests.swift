import H2TunnelTLS
import Testing

@Suite struct CertificateFingerprintTests {
    static let hex = "3f9a0c1b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"

    @Test func acceptsHexInAnyCaseWithOrWithoutColons() {
        #expect(CertificateFingerprint.parse(Self.hex) == Self.hex)
        #expect(CertificateFingerprint.parse(Self.hex.uppercased()) == Self.hex)
        let colons = stride(from: 0, to: 64, by: 2).map { i -> String in
            let start = Self.hex.index(Self.hex.startIndex, offsetBy: i)
            return String(Self.hex[start..<Self.hex.index(start, offsetBy: 2)]).uppercased()
        }.joined(separator: ":")
        #expect(CertificateFingerprint.parse(colons) == Self.hex)
        #expect(CertificateFingerprint.parse("  \(Self.hex) ") == Self.hex)
    }

    @Test func refusesWhatIsNotASHA256() {
        #expect(CertificateFingerprint.parse("") == nil)
        #expect(CertificateFingerprint.parse(String(Self.hex.dropLast())) == nil)
        #expect(CertificateFingerprint.parse(Self.hex + "0") == nil)
        #expect(CertificateFingerprint.parse(String(Self.hex.dropLast()) + "g") == nil)
        #expect(CertificateFingerprint.parse("sha256 Fingerprint=" + Self.hex) == nil)
        // Non-ASCII digits (Arabic-Indic) are hex digits to nobody.
        #expect(CertificateFingerprint.parse(String(Self.hex.dropLast()) + "\u{0663}") == nil)
    }

    @Test func listSkipsCommentsAndBlankLines() throws {
        let other = String(repeating: "ab", count: 32)
        let text = "# leaked 2026-12-05\n\n\(Self.hex.uppercased())  # laptop\r\n   \n\(other)\n"
        #expect(try CertificateFingerprint.parseList(text) == [Self.hex, other])
        #expect(try CertificateFingerprint.parseList("") == [])
        #expect(try CertificateFingerprint.parseList("# nothing denied\n") == [])
    }

    @Test func listNamesTheBadLine() {
        let error = #expect(throws: TLSError.self) {
            try CertificateFingerprint.parseList("\(Self.hex)\n# ok\nnot-a-fingerprint\n")
        }
        #expect(error?.description.contains("line 3") == true)
        #expect(error?.description.contains("not-a-fingerprint") == true)
    }
}
