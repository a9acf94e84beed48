#if canImport(Glibc)
import CEpoll
import Glibc

/// floor-proxy.c's proxy in Swift on epoll, without NIO: what Swift itself (reference
/// counting, bounds checks, exclusivity checks) adds per event to the C floor, as
/// against what NIO's pipeline adds (`floor-proxy-nio`). Written as a Swift data path
/// would be, with classes and no unsafe pointer arithmetic beyond the system calls.
///
///     floor-proxy-epoll TARGET_PORT     (listens on 127.0.0.1, an ephemeral port; prints "ready PORT")
@main
enum FloorProxyEpoll {
    static func main() {
        guard CommandLine.arguments.count == 2, let target = UInt16(CommandLine.arguments[1]) else {
            print("usage: floor-proxy-epoll TARGET_PORT")
            return
        }
        guard let proxy = Proxy(target: target) else {
            perror("floor-proxy-epoll: listen")
            return
        }
        print("ready \(proxy.port)")
        fflush(nil)   // stdout is a pipe: block-buffered
        proxy.run()
    }
}

/// One socket of a pair, and the bytes read from it that its peer has not taken yet.
final class Side {
    static let capacity = 64 * 1024
    let fd: Int32
    let pair: Pair   // the pair holds its sides until `end` lets both go
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Side.capacity, alignment: 16)
    var offset = 0
    var count = 0
    /// 1: this side sent EOF; 2: passed on to the peer (once nothing was left to write).
    var eof = 0

    init(fd: Int32, pair: Pair) {
        self.fd = fd
        self.pair = pair
    }

    deinit { buffer.deallocate() }

    var peer: Side { pair.a === self ? pair.b : pair.a }
}

final class Pair {
    var a: Side!
    var b: Side!
    var ended = 0
    var dead = false
}

final class Proxy {
    let listener: Int32
    let epoll: Int32
    let port: UInt16
    let target: UInt16
    /// Sides by descriptor; a closed pair's are removed at once, so a later event in the
    /// same batch finds nothing.
    var sides: [Side?] = []

    init?(target: UInt16) {
        self.target = target
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(listener, sa, length) == 0 && listen(listener, 4096) == 0 && getsockname(listener, sa, &length) == 0
            }
        }
        guard listener >= 0, bound else { return nil }
        port = UInt16(bigEndian: address.sin_port)
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: listener))
        epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event)
    }

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, 64, -1) }
            for i in 0..<max(0, Int(n)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == listener {
                    accept()
                    continue
                }
                guard Int(fd) < sides.count, let side = sides[Int(fd)], !side.pair.dead else { continue }
                if flags & EPOLLERR.rawValue != 0 {
                    end(side.pair)
                    continue
                }
                if flags & EPOLLOUT.rawValue != 0 { drain(side.peer) }
                if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0, !side.pair.dead { readable(side) }
            }
        }
    }

    private func accept() {
        while true {
            let browser = accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            guard browser >= 0 else { return }
            let app = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard app >= 0 else {
                close(browser)
                continue
            }
            var one: Int32 = 1
            setsockopt(browser, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(app, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var to = sockaddr_in()
            to.sin_family = sa_family_t(AF_INET)
            to.sin_port = target.bigEndian
            to.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let connected = withUnsafePointer(to: &to) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(app, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 || errno == EINPROGRESS
                }
            }
            guard connected else {
                close(browser)
                close(app)
                continue
            }
            let pair = Pair()
            pair.a = Side(fd: browser, pair: pair)
            pair.b = Side(fd: app, pair: pair)
            for side in [pair.a!, pair.b!] {
                let index = Int(side.fd)
                if sides.count <= index { sides += [Side?](repeating: nil, count: index + 1 - sides.count) }
                sides[index] = side
                var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: side.fd))
                epoll_ctl(epoll, EPOLL_CTL_ADD, side.fd, &event)
            }
        }
    }

    private func watch(_ side: Side) {
        var flags: UInt32 = 0
        if side.count == 0 && side.eof == 0 { flags |= EPOLLIN.rawValue }
        if side.peer.count > 0 { flags |= EPOLLOUT.rawValue }
        var event = epoll_event(events: flags, data: epoll_data_t(fd: side.fd))
        epoll_ctl(epoll, EPOLL_CTL_MOD, side.fd, &event)
    }

    private func end(_ pair: Pair) {
        pair.dead = true
        for side in [pair.a!, pair.b!] {
            close(side.fd)
            sides[Int(side.fd)] = nil
        }
        pair.a = nil   // breaks the cycle: the pair goes with its last reference
        pair.b = nil
    }

    /// Writes what `side` read to its peer.
    private func drain(_ side: Side) {
        while side.count > 0 {
            let n = write(side.peer.fd, side.buffer.baseAddress! + side.offset, side.count)
            if n < 0 {
                if errno == EAGAIN { break }
                end(side.pair)
                return
            }
            side.offset += n
            side.count -= n
        }
        if side.count == 0 {
            side.offset = 0
            if side.eof == 1 {
                shutdown(side.peer.fd, Int32(SHUT_WR))
                side.eof = 2
                side.pair.ended += 1
                if side.pair.ended == 2 {
                    end(side.pair)
                    return
                }
            }
        }
        watch(side)
        watch(side.peer)
    }

    private func readable(_ side: Side) {
        guard side.eof == 0, side.count == 0 else { return }
        let n = read(side.fd, side.buffer.baseAddress!, Side.capacity)
        if n < 0 {
            if errno != EAGAIN { end(side.pair) }
            return
        }
        if n == 0 { side.eof = 1 } else { side.count = n }
        drain(side)
    }
}
#else
@main
enum FloorProxyEpoll {
    static func main() { print("floor-proxy-epoll: Linux only (epoll)") }
}
#endif
