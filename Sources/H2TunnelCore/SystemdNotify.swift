#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The sd_notify protocol without libsystemd: one datagram of `KEY=value` lines to the
/// unix socket named by `$NOTIFY_SOCKET` (sd_notify(3); a leading `@` names an abstract
/// socket). A unit with `Type=notify` is "started" at `READY=1` and "stopping" at
/// `STOPPING=1`; `STATUS=` is what `systemctl status` shows. Without the variable (not
/// under systemd) nothing is sent.
public enum SystemdNotify {
    /// Sends `lines` (e.g. `["READY=1", "STATUS=serving"]`) as one datagram; false when
    /// `$NOTIFY_SOCKET` is unset or the send failed (systemd gone: nothing to do about it).
    @discardableResult
    public static func send(_ lines: [String]) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // Abstract namespace: the name starts with a NUL byte instead of '@' (unix(7)).
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path socket needs room for its terminating NUL; an abstract name does not.
        guard bytes.count < capacity || (bytes.first == 0 && bytes.count <= capacity) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(lines.joined(separator: "\n").utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == message.count
    }
}
