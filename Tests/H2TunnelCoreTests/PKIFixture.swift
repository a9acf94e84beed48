import Foundation

/// A development PKI made once per test run by `Tools/gen-pki` (found relative to this file).
enum PKIFixture {
    static let directory: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("h2tunnel-unit-pki-\(getpid())").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("Tools/gen-pki").path, out]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        process.waitUntilExit()
        precondition(process.terminationStatus == 0, "Tools/gen-pki failed")
        atexit { try? FileManager.default.removeItem(atPath: PKIFixture.directory) }
        return out
    }()

    static func path(_ relative: String) -> String { directory + "/" + relative }
}
