import Foundation
import H2TunnelCore
import H2TunnelHTTP2
import H2TunnelTLS
import NIOConcurrencyHelpers
import NIOCore

/// Everything a probe reports, as text lines in the style of `nghttp -v` while it runs,
/// or as one JSON document at the end (`--json`) carrying the same facts.
public final class ProbeOutput: HTTP2FrameObserver, @unchecked Sendable {
    public enum Mode: Sendable { case text, json, quiet }

    public let mode: Mode
    public let verbose: Bool
    /// Where the JSON document goes: stdout, except in `connect` mode, where stdout is the stream.
    public var jsonToStandardError = false
    private let start = NIODeadline.now()
    private let lock = NIOLock()
    private var document: [String: Any] = [:]
    private var frames: [[String: Any]] = []

    public init(mode: Mode, verbose: Bool) {
        self.mode = mode
        self.verbose = verbose
    }

    /// Seconds since the probe started.
    public var elapsed: Double { Double((NIODeadline.now() - start).nanoseconds) / 1e9 }

    /// A timestamped text line (text mode only).
    public func line(_ text: String, detail: [String] = []) {
        guard mode == .text else { return }
        var out = String(format: "[%8.3f] ", elapsed) + text + "\n"
        for item in detail { out += "           " + item + "\n" }
        write(out)
    }

    /// A line shown only with --verbose (text mode): detail an operator asks for explicitly.
    public func detail(_ text: @autoclosure () -> String) {
        guard verbose else { return }
        line(text())
    }

    /// Unprefixed output: a response body, a summary table.
    public func raw(_ text: String) {
        guard mode != .json else { return }
        write(text)
    }

    public func set(_ key: String, _ value: Any) {
        lock.withLock { document[key] = value }
    }

    public func tls(version: String, cipher: String, alpn: String?, chain: [CertificateSummary]) {
        set("tls", ["version": version, "cipher": cipher, "alpn": alpn as Any,
                    "chain": chain.map(Self.json)])
        line("TLS \(version) \(cipher) ALPN \(alpn ?? "none")", detail: chain.enumerated().flatMap { index, cert in
            ["certificate \(index): subject \(cert.subject)",
             "  issuer \(cert.issuer)",
             "  SAN \((cert.names.dnsNames.map { "DNS:\($0)" } + cert.names.uris.map { "URI:\($0)" }).joined(separator: ", "))",
             "  expires \(cert.notAfter)",
             "  sha256 \(cert.sha256)"]
        })
    }

    static func json(_ cert: CertificateSummary) -> [String: Any] {
        ["subject": cert.subject, "issuer": cert.issuer, "dns": cert.names.dnsNames, "uris": cert.names.uris,
         "notAfter": cert.notAfter, "sha256": cert.sha256]
    }

    // MARK: Frames

    public func observe(_ frame: HTTP2FrameInfo) {
        let time = elapsed
        if mode == .json {
            var entry: [String: Any] = ["t": time, "direction": frame.direction.rawValue, "type": frame.typeName,
                                        "flags": frame.flagNames, "stream": frame.streamID, "length": frame.length]
            if frame.type == 4 && frame.flags & 1 == 0 {
                entry["settings"] = Dictionary(frame.settings.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
            }
            if !frame.headers.isEmpty { entry["headers"] = frame.headers.map { [$0.name, $0.value] } }
            if let name = frame.errorName { entry["error"] = name }
            if let last = frame.lastStreamID { entry["lastStreamID"] = last }
            if let debug = frame.debugData { entry["debug"] = debug }
            if let increment = frame.windowIncrement { entry["increment"] = increment }
            if let ping = frame.pingData { entry["opaque"] = Self.hex(ping) }
            lock.withLock { frames.append(entry) }
            return
        }
        guard mode == .text else { return }
        let verb = frame.direction == .sent ? "send" : "recv"
        var detail: [String] = []
        if !frame.flagNames.isEmpty { detail.append("; " + frame.flagNames.joined(separator: " | ")) }
        switch frame.type {
        case 4 where frame.flags & 1 == 0:
            detail.append("(niv=\(frame.settings.count))")
            detail += frame.settings.map { "[\($0.name)(0x\(String($0.id, radix: 16))):\($0.value)]" }
        case 1:
            detail += frame.headers.map { "\($0.name): \($0.value)" }
        case 3:
            detail.append("(error_code=\(frame.errorName ?? "")(0x\(String(frame.errorCode ?? 0, radix: 16))))")
        case 7:
            detail.append("(last_stream_id=\(frame.lastStreamID ?? 0), error_code=\(frame.errorName ?? "")(0x\(String(frame.errorCode ?? 0, radix: 16))), opaque_data(\(frame.debugData?.utf8.count ?? 0))=[\(frame.debugData ?? "")])")
        case 8:
            detail.append("(window_size_increment=\(frame.windowIncrement ?? 0))")
        case 6:
            detail.append("(opaque_data=\(Self.hex(frame.pingData ?? [])))")
        default:
            break
        }
        line("\(verb) \(frame.typeName) frame <length=\(frame.length), flags=0x\(String(format: "%02x", frame.flags)), stream_id=\(frame.streamID)>",
             detail: detail)
    }

    // MARK: End

    /// Prints the JSON document (JSON mode) and, on failure, one line on stderr.
    public func finish(error: ProbeError?) {
        if let error {
            StandardStream.error.write("h2probe: \(error.kind.rawValue) error: \(error.message)\n")
        }
        guard mode == .json else { return }
        var out = lock.withLock { document }
        out["frames"] = lock.withLock { frames }
        out["ok"] = error == nil
        if let error { out["error"] = ["kind": error.kind.rawValue, "message": error.message, "exitCode": error.exitCode] }
        let data = (try? JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])) ?? Data("{}".utf8)
        if jsonToStandardError {
            StandardStream.error.write(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            write(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    private func write(_ text: String) {
        lock.withLock { StandardStream.output.write(text) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}
