import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Tunes what depends on the agent's uplink from the relay connection's TCP_INFO, read every
/// `interval`: the pacing cap (`LinkPacer`, when `pacing` is on), the DATA frame size
/// (`LinkFrameSize`), NIO's write-buffer watermark (`writeBufferWaterMark`) and
/// TCP_NOTSENT_LOWAT (`notSentLowWatermark`). One syscall per interval on one connection
/// per agent, one more for each value that changes.
public enum LinkTuner {
    /// 200 ms: five readings per second find a queue within a few round trips of 40 ms.
    public static let interval = TimeAmount.milliseconds(200)

    /// Starts tuning `channel`'s socket; stops when it closes. `paced` hears each new cap
    /// (nil: not paced), `applyFrameSize` each new frame size, both on the channel's event
    /// loop. Call on the channel's event loop.
    public static func manage(_ channel: Channel, pacing: Bool, largestFrame: Int,
                              every interval: TimeAmount = LinkTuner.interval,
                              paced: @escaping (UInt64?) -> Void = { _ in },
                              applyFrameSize: @escaping (Int) -> Void) {
        guard let provider = channel as? SocketOptionProvider else { return }
        let state = NIOLoopBoundBox((pacer: LinkPacer(), frame: largestFrame, lowat: SocketTuning.notSentLowWatermark),
                                    eventLoop: channel.eventLoop)
        let apply = NIOLoopBound((paced, applyFrameSize), eventLoop: channel.eventLoop)
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let info: EventLoopFuture<LinkSendBuffer.TCPInfoWithMinRTT> = provider.unsafeGetSocketOption(
                level: .tcp, name: NIOBSDSocket.Option(rawValue: CInt(TCP_INFO)))
            info.whenSuccess { info in
                var rate = info.pacingRate
                if pacing {
                    let sample = LinkPacer.Sample(
                        time: Double(NIODeadline.now().uptimeNanoseconds) / 1e9, minRTT: info.minRTT,
                        smoothedRTT: info.base.tcpi_rtt, bytesAcked: info.bytesAcked, notSent: info.notSentBytes,
                        deliveryRate: info.deliveryRate, appLimited: info.deliveryRateAppLimited)
                    if let cap = state.value.pacer.update(sample) {
                        // SO_MAX_PACING_RATE as a u32: ~0 is "unpaced", and no cap we set is near 4 GB/s.
                        let value = UInt32(clamping: cap)
                        _ = provider.unsafeSetSocketOption(level: .socket, name: maxPacingRate, value: value)
                        apply.value.0(state.value.pacer.cap)
                    }
                    rate = min(rate, state.value.pacer.cap ?? .max)
                }
                let lowat = notSentLowWatermark(pacingBytesPerSecond: rate)
                if lowat != state.value.lowat {
                    state.value.lowat = lowat
                    _ = provider.unsafeSetSocketOption(level: .tcp, name: notSentLowat, value: CInt(lowat))
                }
                let frame = LinkFrameSize.size(pacingBytesPerSecond: rate, largest: largestFrame)
                guard frame != state.value.frame else { return }
                state.value.frame = frame
                try? channel.syncOptions?.setOption(.writeBufferWaterMark, value: writeBufferWaterMark(frameSize: frame))
                apply.value.1(frame)
            }
        }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }

    /// SO_MAX_PACING_RATE (Linux 3.13), bytes per second.
    static let maxPacingRate = NIOBSDSocket.Option(rawValue: 47)
    static let notSentLowat = NIOBSDSocket.Option(rawValue: 25)

    /// What NIO may hold above TCP before the connection stops taking frames: one DATA frame
    /// (`SocketTuning.agentConnectionWaterMark` until the first reading). Every byte here is
    /// one a page's next response waits behind, outside nghttp2's scheduler: at 50 Mbit/s
    /// (16 KiB frames) a fixed 64 KiB held 10 ms per crossing, and a page under 4 downloads
    /// took 1.53–1.58 × idle against 1.32–1.40 with one frame (`Tools/bench --wan`, E and
    /// E3). The pacer still engaged and transfers stayed at 0.94–0.95 × the link.
    public static func writeBufferWaterMark(frameSize: Int) -> ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: frameSize / 4, high: frameSize)
    }

    /// TCP_NOTSENT_LOWAT for a link paced at `rate`: 5 ms of it, 16 to 256 KiB, in 16 KiB
    /// steps (so a rate that wavers does not reset it every reading). The kernel marks a
    /// delivery-rate sample application-limited when the socket ran dry; at 200 Mbit/s
    /// 32 KiB is 1.3 ms, one late loop turn, and BBR, which ignores such samples when it
    /// judges whether the path is full, stayed in start-up, pacing at 2.9 × the link and
    /// filling the router's queue (`Tools/bench --wan`: page 5.8–8.1 × idle). 5 ms keeps
    /// bytes waiting in the kernel while staying a small share of a round trip; 256 KiB is
    /// 2 ms of 1 Gbit/s and what loopback needs at most. Below 52 Mbit/s 5 ms is under
    /// 32 KiB: 16 KiB there cut the loaded page from 1.42–1.48 to 1.33–1.45 × idle.
    public static func notSentLowWatermark(pacingBytesPerSecond rate: UInt64) -> Int {
        let step = 16 * 1024
        let fits = Double(rate) * 0.005
        guard fits < Double(16 * step) else { return 16 * step }
        return max(1, Int(fits) / step) * step
    }
}
