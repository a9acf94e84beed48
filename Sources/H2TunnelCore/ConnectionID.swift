/// The id on every log line of one public connection at the relay (metadata `conn`),
/// sent to the agent on the tunnel's CONNECT (`h2tunnel-conn`) so the agent's lines for
/// that tunnel carry it too: one grep follows a browser connection through both.
///
/// Random rather than a counter: relays behind one load balancer, and a relay after a
/// restart, must not hand out the same ids. 12 hex digits (48 bits) keep lines short;
/// a repeat among a day's connections is unlikely enough for a log search key.
public enum ConnectionID {
    public static func make() -> String {
        let value = UInt64.random(in: 0..<(1 << 48))
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }
}
