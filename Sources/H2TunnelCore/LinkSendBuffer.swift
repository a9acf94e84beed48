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
/// The size is 2 × the path's minimum RTT × 10 Gbit/s, at least 512 KiB. It is checked
/// when the connection is up and every 10 s after, and only ever grows. The minimum, not
/// the smoothed RTT: under load the smoothed RTT includes the queues this buffer itself
/// builds, so sizing from it let a few busy minutes on loopback grow the buffer from
/// 512 to 880 KiB for good (seen with `ss`): more queue that no scheduler can reorder.
public enum LinkSendBuffer {
    /// The fastest link the relay–agent path is assumed to have: 10 Gbit/s.
    public static let assumedBytesPerSecond = 1.25e9
    public static let minimum = 512 * 1024

    /// The send buffer for a path with this RTT, or nil when the bandwidth-delay
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
            rtt(of: provider).whenSuccess { rtt in
                guard let size = size(rttMicroseconds: rtt.path, autotuneCeiling: autotuneCeiling),
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

    /// The connection's RTTs from TCP_INFO, in µs: the minimum seen (0 on kernels before
    /// 4.9), the smoothed one, and the one to size by.
    public static func rtt(of provider: SocketOptionProvider) -> EventLoopFuture<(minimum: UInt32, smoothed: UInt32, path: UInt32)> {
        let info: EventLoopFuture<TCPInfoWithMinRTT> = provider.unsafeGetSocketOption(
            level: .tcp, name: NIOBSDSocket.Option(rawValue: CInt(TCP_INFO)))
        return info.map { ($0.minRTT, $0.base.tcpi_rtt, $0.pathRTT) }
    }

    /// Linux's `struct tcp_info` as far as `tcpi_min_rtt` (Linux 4.9), which glibc's
    /// declaration stops short of. Field order and alignment match `<linux/tcp.h>`: the
    /// minimum sits at byte 148. An older kernel fills less and leaves it 0.
    public struct TCPInfoWithMinRTT: Sendable {
        public internal(set) var base = tcp_info()
        public internal(set) var pacingRate: UInt64 = 0
        var maxPacingRate: UInt64 = 0
        public internal(set) var bytesAcked: UInt64 = 0
        var bytesReceived: UInt64 = 0
        var segmentsOut: UInt32 = 0
        var segmentsIn: UInt32 = 0
        public internal(set) var notSentBytes: UInt32 = 0
        public internal(set) var minRTT: UInt32 = 0
        var dataSegmentsIn: UInt32 = 0
        var dataSegmentsOut: UInt32 = 0
        /// `tcpi_delivery_rate` (Linux 4.9), bytes/s: the kernel's latest delivery-rate
        /// sample, which counts selectively acknowledged bytes as they arrive.
        public internal(set) var deliveryRate: UInt64 = 0

        /// `tcpi_delivery_rate_app_limited` (Linux 4.9): bit 0 of byte 7, where glibc's
        /// declaration has padding.
        public var deliveryRateAppLimited: Bool {
            withUnsafeBytes(of: base) { $0[7] & 1 == 1 }
        }

        /// The minimum RTT where the kernel reports one, else the smoothed RTT.
        var pathRTT: UInt32 { minRTT > 0 ? minRTT : base.tcpi_rtt }
    }

    /// The third field of `/proc/sys/net/ipv4/tcp_wmem`: how far the kernel grows a send buffer.
    static let autotuneCeiling: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? 4 << 20
    }()
}
