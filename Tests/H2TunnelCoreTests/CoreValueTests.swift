import Foundation
import H2TunnelCore
import NIOCore
import NIOPosix
import Testing

@Suite struct HostNameTests {
    @Test func normalizes() {
        #expect(HostName.normalize("ACME.Tunnel.localhost.") == "acme.tunnel.localhost")
        #expect(HostName.normalize("a..b") == nil)
        #expect(HostName.normalize("évil.com") == nil)
        #expect(HostName.normalize("") == nil)
        #expect(HostName.normalize(String(repeating: "a", count: 64) + ".com") == nil)
        #expect(HostName.normalize("com." + String(repeating: "a", count: 64)) == nil)
        #expect(HostName.normalize(String(repeating: "a", count: 63) + ".com") == String(repeating: "a", count: 63) + ".com")
        #expect(HostName.normalize(".acme.com") == nil)
        #expect(HostName.normalize("acme.com..") == nil)
        #expect(HostName.normalize(".") == nil)
        #expect(HostName.normalize("a_b.com") == nil)
        let long = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")   // 255
        #expect(HostName.normalize(long) == nil)
        #expect(HostName.normalize(String(long.dropFirst(2))) == String(long.dropFirst(2)))   // 253
        #expect(HostName.normalize(String(long.dropFirst(2)) + ".") == String(long.dropFirst(2)))
    }

    @Test func tenantIsOneLabelBelowTheDomain() {
        #expect(HostName.tenant(of: "acme.tunnel.localhost", domain: "tunnel.localhost") == "acme")
        #expect(HostName.tenant(of: "x.acme.tunnel.localhost", domain: "tunnel.localhost") == nil)
        #expect(HostName.tenant(of: "tunnel.localhost", domain: "tunnel.localhost") == nil)
        #expect(HostName.tenant(of: "acmetunnel.localhost", domain: "tunnel.localhost") == nil)
        #expect(HostName.tenant(of: ".tunnel.localhost", domain: "tunnel.localhost") == nil)
        #expect(HostName.tenant(of: "localhost", domain: "tunnel.localhost") == nil)
        #expect(HostName.tenant(of: "a-1.tunnel.localhost", domain: "tunnel.localhost") == "a-1")
        #expect(HostName.tenant(of: "acme.tunnel.localhostx", domain: "tunnel.localhost") == nil)
    }

    @Test func hostPort() throws {
        #expect(try HostPort.parse("127.0.0.1:443") == ("127.0.0.1", 443))
        #expect(try HostPort.parse("[::1]:0") == ("::1", 0))
        #expect(throws: HostPort.ParseError.self) { try HostPort.parse("127.0.0.1") }
        #expect(throws: HostPort.ParseError.self) { try HostPort.parse("h:70000") }
    }

    /// The IPv4 form is printed from the address's bytes, the IPv6 one by NIO: both must
    /// read back through `parse`, byte order and all.
    @Test func describedAddressesReadBack() throws {
        for (ip, port) in [("203.0.113.7", 443), ("10.255.0.1", 65535), ("0.0.0.0", 0), ("255.1.128.9", 8443),
                          ("127.0.0.1", 10000), ("99.10.100.1", 9)] {
            let text = HostPort.describe(try SocketAddress(ipAddress: ip, port: port))
            #expect(text == "\(ip):\(port)")
            #expect(try HostPort.parse(text) == (ip, port))
        }
        #expect(HostPort.describe(try SocketAddress(ipAddress: "2001:db8::1", port: 9091)) == "[2001:db8::1]:9091")
        #expect(HostPort.describe(nil) == "unknown")
    }
}

@Suite struct BackoffTests {
    @Test func fullJitterUnderACeilingThatDoublesToTheCap() {
        var backoff = Backoff(base: 0.5, cap: 4)
        var generator = SystemRandomNumberGenerator()
        let ceilings = (0..<8).map { _ -> Double in
            let ceiling = backoff.currentCeiling
            let delay = backoff.next(using: &generator)
            #expect(delay >= 0 && delay <= ceiling)
            return ceiling
        }
        #expect(ceilings == [0.5, 1, 2, 4, 4, 4, 4, 4])
        backoff.reset()
        #expect(backoff.currentCeiling == 0.5)
    }

    @Test func jitterSpreads() {
        var backoff = Backoff(base: 10, cap: 10)
        let delays = Set((0..<50).map { _ in backoff.next() })
        #expect(delays.count > 40)
    }
}

@Suite struct LinkSendBufferTests {
    /// Loopback and one-rack paths get a bounded buffer; WAN paths are left to the kernel.
    @Test func followsTheBandwidthDelayProduct() {
        let ceiling = 4 << 20
        #expect(LinkSendBuffer.size(rttMicroseconds: 30, autotuneCeiling: ceiling) == LinkSendBuffer.minimum)
        // 1 ms × 10 Gbit/s × 2 = 2.5 MB: above the minimum, below the ceiling.
        #expect(LinkSendBuffer.size(rttMicroseconds: 1_000, autotuneCeiling: ceiling) == 2_500_000)
        // 20 ms needs 50 MB: more than autotuning gives, so autotuning keeps the job.
        #expect(LinkSendBuffer.size(rttMicroseconds: 20_000, autotuneCeiling: ceiling) == nil)
        #expect(LinkSendBuffer.size(rttMicroseconds: 30, autotuneCeiling: 256 * 1024) == nil)
    }

    /// The minimum RTT is read from where `<linux/tcp.h>` puts it, on a real connection.
    @Test func readsTheMinimumRTTOfALiveConnection() async throws {
        #expect(MemoryLayout<LinkSendBuffer.TCPInfoWithMinRTT>.offset(of: \.minRTT) == 148)
        let (group, server, client) = try await LoopbackConnection.open()
        let rtt = try await LinkSendBuffer.rtt(of: client as! SocketOptionProvider).get()
        // Loopback: tens of µs, never more than a second; the smoothed RTT is not below it.
        #expect(rtt.minimum > 0 && rtt.minimum < 1_000_000)
        #expect(rtt.minimum <= rtt.smoothed && rtt.path == rtt.minimum)
        try await LoopbackConnection.close(group, server, client)
    }
}

/// A real TCP connection on loopback that has carried a few writes, for TCP_INFO.
enum LoopbackConnection {
    static func open() async throws -> (MultiThreadedEventLoopGroup, Channel, Channel) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        for _ in 0..<20 { try await client.writeAndFlush(ByteBuffer(string: "ping")).get() }
        return (group, server, client)
    }

    static func close(_ group: MultiThreadedEventLoopGroup, _ server: Channel, _ client: Channel) async throws {
        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}

@Suite struct LinkFrameSizeTests {
    /// 2 ms of the paced rate, between 16 KiB and the largest frame allowed.
    @Test func framesTakeTwoMillisecondsOfTheLink() {
        let largest = 64 * 1024
        #expect(LinkFrameSize.size(pacingBytesPerSecond: 0, largest: largest) == largest)
        // 50 Mbit/s: 12.5 KB would fit; no frame is made smaller than 16 KiB.
        #expect(LinkFrameSize.size(pacingBytesPerSecond: 6_250_000, largest: largest) == 16 * 1024)
        // 200 Mbit/s: 50 KB.
        #expect(LinkFrameSize.size(pacingBytesPerSecond: 25_000_000, largest: largest) == 50_000)
        #expect(LinkFrameSize.size(pacingBytesPerSecond: 125_000_000, largest: largest) == largest)
    }

    /// 5 ms of the link in 16 KiB steps, 16 to 256 KiB (`LinkTuner.notSentLowWatermark`).
    @Test func unsentBytesFollowTheRate() {
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: 0) == 16 * 1024)
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: 6_250_000) == 16 * 1024)     // 50 Mbit/s
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: 12_500_000) == 48 * 1024)    // 100 Mbit/s
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: 25_000_000) == 112 * 1024)   // 200 Mbit/s
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: 125_000_000) == 256 * 1024)  // 1 Gbit/s
        #expect(LinkTuner.notSentLowWatermark(pacingBytesPerSecond: .max) == 256 * 1024)
    }

    /// One frame waits above TCP: NIO's watermark is the frame size, a quarter of it to resume.
    @Test func nioHoldsOneFrame() {
        let mark = LinkTuner.writeBufferWaterMark(frameSize: 16 * 1024)
        #expect(mark.high == 16 * 1024 && mark.low == 4 * 1024)
    }

    /// The pacing rate is read from where `<linux/tcp.h>` puts it, on a real connection, the
    /// size reaches `applyFrameSize` on the channel's event loop, and the channel's
    /// write-buffer watermark follows it (`LinkTuner`).
    @Test func readsThePacingRateOfALiveConnection() async throws {
        #expect(MemoryLayout<LinkSendBuffer.TCPInfoWithMinRTT>.offset(of: \.pacingRate) == 104)
        #expect(MemoryLayout<LinkSendBuffer.TCPInfoWithMinRTT>.offset(of: \.deliveryRate) == 160)
        let (group, server, client) = try await LoopbackConnection.open()
        let applied = client.eventLoop.makePromise(of: Int.self)
        let loop = client.eventLoop
        // No ceiling, so any rate the kernel reports changes the size and is applied.
        try await loop.submit {
            LinkTuner.manage(client, pacing: true, largestFrame: .max, every: .milliseconds(20)) { size in
                loop.preconditionInEventLoop()
                applied.succeed(size)
            }
        }.get()
        // Loopback paces at gigabytes a second: 2 ms of that is far above the floor.
        let size = try await applied.futureResult.get()
        #expect(size > LinkFrameSize.smallest)
        let mark = try await client.getOption(.writeBufferWaterMark).get()
        #expect(mark.high == size && mark.low == size / 4)
        try await LoopbackConnection.close(group, server, client)
    }
}

@Suite struct SplicedReadTests {
    @Test func competingBulkReadersShareOneTurnsBudget() {
        #expect(SplicedReadBudget.share(bulkReaders: 1) == SplicedReadBudget.largest)
        #expect(SplicedReadBudget.share(bulkReaders: 2) == SplicedReadBudget.largest)
        #expect(SplicedReadBudget.share(bulkReaders: 4) == 32 * 1024)
        #expect(SplicedReadBudget.share(bulkReaders: 8) == SplicedReadBudget.smallest)
        #expect(SplicedReadBudget.share(bulkReaders: 500) == SplicedReadBudget.smallest)
    }

    /// A lone bulk reader reads large; four get a quarter of the budget each; a reader
    /// that reads short leaves the count, and one that went quiet expires from it.
    @Test func readSizesFollowTheCompetition() {
        let budget = SplicedReadBudget()
        var readers = (0..<4).map { _ in SplicedReadAllocator(budget: budget) }
        #expect(readers[0].size == SplicedReadAllocator.initial)
        _ = readers[0].record(actualReadBytes: readers[0].size)
        #expect(readers[0].size == SplicedReadBudget.alone)
        for i in 0..<4 { _ = readers[i].record(actualReadBytes: readers[i].size) }
        #expect(budget.bulkReaders == 4)
        _ = readers[0].record(actualReadBytes: readers[0].size)
        #expect(readers[0].size == 32 * 1024)

        // Keeping up (a short read) is not competing; the buffer follows what came.
        _ = readers[3].record(actualReadBytes: 10_000)
        #expect(budget.bulkReaders == 3 && readers[3].size == 32 * 1024)
        _ = readers[2].record(actualReadBytes: 100)
        #expect(readers[2].size == SplicedReadAllocator.initial)

        // Readers that stop reading (closed, paused, quiet) expire after the window.
        let later = NIODeadline.now() + SplicedReadBudget.window + .milliseconds(1)
        #expect(budget.fullRead(by: SplicedReadBudget.Reader(), at: later) == SplicedReadBudget.alone)
        #expect(budget.bulkReaders == 1)

        // Readers move between the lists in any order without losing or doubling one.
        let a = SplicedReadBudget.Reader(), b = SplicedReadBudget.Reader()
        _ = budget.fullRead(by: a, at: later)
        #expect(budget.fullRead(by: b, at: later) == SplicedReadBudget.share(bulkReaders: 3) && budget.bulkReaders == 3)
        budget.shortRead(by: a, at: later)
        #expect(budget.bulkReaders == 2)
        budget.shortRead(by: b, at: later)
        _ = budget.fullRead(by: b, at: later)
        _ = budget.fullRead(by: b, at: later)
        #expect(budget.bulkReaders == 2)
    }

    /// One small request beside a lone bulk reader brings the bulk reader back to a
    /// share, so the request does not wait behind 512 KiB at every hop; many small
    /// readers do not shrink that share further.
    @Test func smallReadersEndTheLoneModeOnly() {
        let budget = SplicedReadBudget()
        var bulk = SplicedReadAllocator(budget: budget)
        var small = (0..<50).map { _ in SplicedReadAllocator(budget: budget) }
        _ = bulk.record(actualReadBytes: bulk.size)
        #expect(bulk.size == SplicedReadBudget.alone)
        _ = small[0].record(actualReadBytes: 300)
        _ = bulk.record(actualReadBytes: bulk.size)
        #expect(bulk.size == SplicedReadBudget.largest)
        for i in small.indices { _ = small[i].record(actualReadBytes: 300) }
        _ = bulk.record(actualReadBytes: bulk.size)
        #expect(bulk.size == SplicedReadBudget.largest)
    }
}

@Suite struct LinkReadAllocatorTests {
    /// Reads through NIO's own receive-buffer pool, as a channel with one read per turn
    /// (`maxMessagesPerRead` 1, as agent connections have) does: `sizes` bytes
    /// arrive read after read; returns the capacity of the buffer each read got.
    private func capacities<A: RecvByteBufferAllocator>(_ allocator: A, reading sizes: [Int]) -> [Int] {
        var pool = NIOPooledRecvBufferAllocator(capacity: 1, recvAllocator: allocator)
        return sizes.map { arriving in
            let (buffer, read) = pool.buffer(allocator: ByteBufferAllocator()) { buffer -> Int in
                let n = min(arriving, buffer.writableBytes)
                buffer.writeRepeatingByte(0, count: n)
                return n
            }
            pool.record(actualReadBytes: read)
            return buffer.capacity
        }
    }

    /// A download ramps the reads up to 256 KiB in three reads; once the link is quiet
    /// again its reads are small, and so is every buffer NIO hands out. NIO's adaptive
    /// allocator, which the agent connection used before, kept reading into the 256 KiB
    /// buffer for good: that is what an idle connection held.
    @Test func anIdleLinkHoldsNoLargeBuffer() {
        let download = Array(repeating: 1 << 20, count: 6)
        let quiet = Array(repeating: 40, count: 30)   // PINGs, small frames
        let ours = capacities(LinkReadAllocator(), reading: download + quiet)
        #expect(ours.prefix(4) == [4096, 16384, 65536, 262_144])
        #expect(ours.last == LinkReadAllocator.smallest)
        let before = capacities(AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 262_144),
                                reading: download + quiet)
        #expect(before.last == 262_144)
    }

    @Test func readsThatKeepUpDoNotShrinkTheBuffer() {
        var allocator = LinkReadAllocator()
        for _ in 0..<3 { _ = allocator.record(actualReadBytes: allocator.size) }
        #expect(allocator.size == LinkReadAllocator.largest)
        for _ in 0..<10 { _ = allocator.record(actualReadBytes: allocator.size * 3 / 4) }
        #expect(allocator.size == LinkReadAllocator.largest)
        _ = allocator.record(actualReadBytes: 100)
        #expect(allocator.size == LinkReadAllocator.largest)
        _ = allocator.record(actualReadBytes: 100)
        #expect(allocator.size == LinkReadAllocator.largest / 2)
        // Short reads must follow one another: one that used more than half in between
        // starts the count again.
        _ = allocator.record(actualReadBytes: 100)
        _ = allocator.record(actualReadBytes: allocator.size * 3 / 4)
        _ = allocator.record(actualReadBytes: 100)
        #expect(allocator.size == LinkReadAllocator.largest / 2)
    }
}
