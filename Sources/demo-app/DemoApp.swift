import ArgumentParser
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 business app for demos and end-to-end tests. For the tunnel
/// tests it greets, streams a deterministic byte pattern of any size and echoes
/// request bodies, all with bounded memory so they measure the tunnel, not this
/// app. For the product demo it keeps a company's ledgers and vouchers (JSON API
/// and pages), a live event stream and a WebSocket echo.
@main
struct DemoApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-app",
        abstract: "HTTP/1.1 demo upstream: GET /, GET /bytes/N, PUT|POST /echo, GET /app, "
            + "/api/whoami, /api/ledgers[/ID[/vouchers]], POST /api/vouchers, GET /api/events (SSE), "
            + "GET /ws/echo (WebSocket)."
    )

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "The company name the ledger pages show.")
    var company: String = "Acme Corporation"

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"),
              let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        let host = String(listen[..<colon]).trimmingCharacters(in: ["[", "]"])

        /// A closed stdout or stderr must cost a log line (EPIPE), not the
        /// process (SIGPIPE), like relay and agent.
        signal(SIGPIPE, SIG_IGN)
        let book = LedgerBook.sample(company: company)
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    /// First in the pipeline so it sees writability before anyone
                    /// else: no socket reads while our own writes are queued.
                    try sync.addHandler(BackPressureHandler())
                    try sync.configureHTTPServerPipeline(
                        withServerUpgrade: WebSocketUpgrade.configuration(removing: DemoHandler.name),
                        withErrorHandling: true)
                    try sync.addHandler(DemoHandler(book: book), name: DemoHandler.name)
                }
            }
            .bind(host: host, port: port)
            .wait()

        guard let bound = channel.localAddress, let ip = bound.ipAddress, let boundPort = bound.port
        else { throw ValidationError("could not read the bound address") }
        /// Tests and scripts wait for exactly this line, so it must not sit in
        /// a pipe buffer.
        print("demo-app ready http=\(ip):\(boundPort)")
        fflush(nil)
        try channel.closeFuture.wait()
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop(while: set.contains).reversed().drop(while: set.contains).reversed())
    }
}
