import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Sizes the agent connection's kernel send buffer to the path's bandwidth-delay product.
///
/// Linux grows a TCP send buffer up to its autotuning ceiling (`tcp_wmem`, 4 MiB) whatever
/// the path. Across a WAN that is what the path needs and the kernel is left alone. On a
/// sub-millisecond path (relay and agent in one rack, or on one host) it is megabytes of
/// queue that HTTP/2's scheduler cannot reorder, in front of every stream, in pages that
/// go cold before the peer reads them. Measured on loopback, the cap took the agent from
/// 1.08 to 0.90 CPU s/GB and download from 515 to 550 MB/s (same run, 3 rounds).
///
/// The size is 2 × smoothed RTT × 10 Gbit/s, at least 512 KiB. It is checked when the
/// connection is up and every 10 s after, and only ever grows (an RTT that rises under
/// load gets the buffer it needs; a lower sample never takes bytes away).
public enum LinkSendBuffer {
    /// The fastest link the relay–agent path is assumed to have: 10 Gbit/s.
    public static let assumedBytesPerSecond = 1.25e9
    public static let minimum = 512 * 1024

    /// The send buffer for a path with this smoothed RTT, or nil when the bandwidth-delay
    /// product reaches the autotuning ceiling (the kernel then sizes it).
    public static func size(rttMicroseconds: UInt32, autotuneCeiling: Int) -> Int? {
        let bdp = 2 * assumedBytesPerSecond * Double(rttMicroseconds) / 1e6
        let target = max(minimum, Int(bdp))
        return target < autotuneCeiling ? target : nil
    }

    /// Starts managing `channel`'s send buffer; stops when the channel closes.
    public static func manage(_ channel: Channel, every interval: TimeAmount = .seconds(10)) {
        guard let provider = channel as? SocketOptionProvider else { return }
        let applied = NIOLoopBoundBox(0, eventLoop: channel.eventLoop)
        let adjust: @Sendable () -> Void = {
            let info: EventLoopFuture<tcp_info> = provider.unsafeGetSocketOption(
                level: .tcp, name: NIOBSDSocket.Option(rawValue: CInt(TCP_INFO)))
            info.whenSuccess { info in
                guard let size = size(rttMicroseconds: info.tcpi_rtt, autotuneCeiling: autotuneCeiling),
                      size > applied.value else { return }
                applied.value = size
                // The kernel doubles SO_SNDBUF for its own bookkeeping (socket(7)).
                _ = channel.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size / 2))
            }
        }
        channel.eventLoop.execute(adjust)
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in adjust() }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }

    /// The third field of `/proc/sys/net/ipv4/tcp_wmem`: how far the kernel grows a send buffer.
    static let autotuneCeiling: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? 4 << 20
    }()
}
