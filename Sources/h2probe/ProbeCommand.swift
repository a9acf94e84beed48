import ArgumentParser
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import H2Probe
import H2TunnelCore
import NIOPosix

@main
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "h2probe",
        abstract: "Shows what an HTTP/2 endpoint, an H2Tunnel relay or an agent really says, frame by frame.",
        discussion: """
            Exit codes: 0 ok, 2 cannot connect, 3 TLS failure, 4 HTTP/2 protocol failure
            (also: the server speaks TLS but not HTTP/2), 5 timeout, 6 negative verdict
            (route refused, agent unhealthy), 64 usage.
            Names under .localhost are dialled on loopback (127.0.0.1, then ::1), as curl does.

            Examples:
              h2probe https://nghttp2.example/ --cacert ca.pem
              h2probe http://127.0.0.1:8080/ --json               (h2c, prior knowledge)
              h2probe ping https://relay.example.com/ --count 20
              h2probe ping https://agents.relay.localhost:8443/ --cert agent.pem --key agent.key --cacert ca.pem
              echo hello | h2probe connect https://acme.tunnel.example/ --protocol h2tunnel-tls
              h2probe route acme.tunnel.example --via relay.example.com:443 --relay-hostname relay.example.com
              h2probe relay --listen 127.0.0.1:8443 --cert relay.pem --key relay.key --agent-ca agent-ca.pem
            """,
        subcommands: [Request.self, Ping.self, Connect.self, Route.self, Relay.self],
        defaultSubcommand: Request.self)

    /// Usage errors are one line and exit 64, like every other h2probe error; --help
    /// still prints the full help.
    static func main() async {
        // `h2probe URL | head` must end quietly when head does, not on a broken pipe.
        StandardStream.ignoreBrokenPipes()
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            StandardStream.error.write("h2probe: usage error: \(message)\n")
            Glibc.exit(64)
        }
    }
}

/// A client certificate (mTLS), e.g. an agent's for the relay's agent endpoint. Not in
/// CommonOptions: `h2probe relay` has its own --cert/--key (its server certificate).
struct ClientCertificateOptions: ParsableArguments {
    @Option(help: "Client certificate (PEM chain) to present, e.g. an agent certificate for the relay's agent endpoint.") var cert: String?
    @Option(help: "Its private key (PEM).") var key: String?

    func apply(to options: inout ProbeOptions) throws {
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together") }
        options.certificate = cert
        options.key = key
    }
}

struct CommonOptions: ParsableArguments {
    @Option(help: "CA certificate (PEM) to verify the server with; default: the system store.") var cacert: String?
    @Flag(help: "Do not verify the server certificate.") var insecure = false
    @Option(help: "HOST:PORT:ADDR: connect to ADDR for HOST:PORT (as curl).") var resolve: [String] = []
    @Option(help: "Seconds before giving up (exit 5); default 10, 60 for relay mode.") var timeout: Double?
    @Flag(help: "Print only the response body / result.") var quiet = false
    @Flag(help: "Also print how the target is dialled, each PING's round trip and a timing summary.") var verbose = false
    @Flag(help: "Print one JSON document with the same facts.") var json = false

    var options: ProbeOptions {
        var options = ProbeOptions()
        options.cacert = cacert
        options.insecure = insecure
        options.resolve = resolve
        options.timeout = timeout ?? 10
        options.output = json ? .json : quiet ? .quiet : .text
        options.verbose = verbose
        return options
    }
}

/// Runs a probe with the exit-code contract: one line on error, never a stack trace;
/// the timeout ends the process even if a peer never answers.
func execute(_ options: ProbeOptions, jsonToStandardError: Bool = false,
             _ body: @escaping @Sendable (ProbeOutput, MultiThreadedEventLoopGroup) async throws -> Void) async throws {
    let output = ProbeOutput(mode: options.output, verbose: options.verbose)
    output.jsonToStandardError = jsonToStandardError
    let timer = DispatchSource.makeTimerSource()
    timer.schedule(deadline: .now() + options.timeout)
    timer.setEventHandler {
        output.finish(error: ProbeError(.timeout, "no answer within \(options.timeout) s"))
        exit(5)
    }
    timer.resume()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
        try await body(output, group)
        timer.cancel()
        output.finish(error: nil)
    } catch let error as ProbeError {
        timer.cancel()
        output.finish(error: error)
        throw ExitCode(error.exitCode)
    } catch {
        timer.cancel()
        let wrapped = ProbeError(.protocol, "\(error)")
        output.finish(error: wrapped)
        throw ExitCode(wrapped.exitCode)
    }
}

struct Request: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "One request: TLS summary, every frame, the response (default).")
    @Argument(help: "https://… or http://… (h2c with prior knowledge)") var url: String
    @Option(help: "Request method.") var method = "GET"
    @Option(name: [.customShort("H"), .long], help: "Extra header, 'Name: value' (repeatable).") var header: [String] = []
    @Option(help: "Request body.") var data: String?
    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientCertificateOptions

    func run() async throws {
        var options = common.options
        try client.apply(to: &options)
        var probe = RequestProbe(target: try target(url), options: options)
        probe.method = method
        probe.headers = try header.map { line in
            guard let colon = line.firstIndex(of: ":") else { throw ValidationError("header must be 'Name: value': \(line)") }
            return (String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                    String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        probe.data = data
        let finalProbe = probe
        try await execute(options) { try await finalProbe.run(output: $0, group: $1) }
    }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "HTTP/2 PING round trips: min, median, p99.")
    @Argument var url: String
    @Option(help: "How many PINGs.") var count = 10
    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientCertificateOptions

    func run() async throws {
        var options = common.options
        try client.apply(to: &options)
        let probe = PingProbe(target: try target(url), count: max(1, count), options: options)
        try await execute(options) { try await probe.run(output: $0, group: $1) }
    }
}

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "RFC 8441 extended CONNECT; pipes stdin and stdout through the stream.",
        discussion: "stdout carries the stream, so --json writes its document to stderr.")
    @Argument var url: String
    @Option(name: .customLong("protocol"), help: "The :protocol token.") var protocolToken: String
    @OptionGroup var common: CommonOptions
    @OptionGroup var client: ClientCertificateOptions

    func run() async throws {
        var options = common.options
        try client.apply(to: &options)
        if options.output == .text { options.output = .quiet }   // stdout carries the stream
        let probe = ConnectProbe(target: try target(url), protocolToken: protocolToken, options: options)
        try await execute(options, jsonToStandardError: true) { try await probe.run(output: $0, group: $1) }
    }
}

struct Route: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What a relay does with a host name, and who answers.")
    @Argument(help: "The SNI to ask for, e.g. acme.tunnel.example.") var host: String
    @Option(help: "The relay's public port, HOST:PORT.") var via: String
    @Option(name: .customLong("relay-hostname"), help: "The relay's own name, to tell its certificate from a tenant's.") var relayHostname: String?
    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard let colon = via.lastIndex(of: ":"), let port = Int(via[via.index(after: colon)...]) else {
            throw ValidationError("--via must be HOST:PORT")
        }
        let probe = RouteProbe(host: host.lowercased(), viaHost: String(via[..<colon]), viaPort: port,
                               relayHostname: relayHostname?.lowercased(), options: common.options)
        try await execute(common.options) { try await probe.run(output: $0, group: $1) }
    }
}

struct Relay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stand in for a relay: accept one agent, check it, give a verdict.")
    @Option(help: "HOST:PORT to listen on.") var listen: String
    @Option(help: "Relay certificate (PEM) for the agent endpoint name.") var cert: String
    @Option(help: "Its private key (PEM).") var key: String
    @Option(name: .customLong("agent-ca"), help: "CA (PEM) that signs agent certificates.") var agentCA: String
    @Option(help: "Authority of the test CONNECT stream (default <tenant>.<tenant-domain>).") var authority: String?
    @Option(name: .customLong("tenant-domain")) var tenantDomain = "tunnel.localhost"
    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        var options = common.options
        if common.timeout == nil { options.timeout = 60 }   // waiting for an agent to dial in takes longer
        let probe = FakeRelayProbe(listenHost: String(listen[..<colon]), listenPort: port, certificatePath: cert, keyPath: key,
                                   agentCAPath: agentCA, authority: authority, tenantDomain: tenantDomain, options: options)
        try await execute(options) { try await probe.run(output: $0, group: $1) }
    }
}

func target(_ url: String) throws -> ProbeTarget {
    do { return try ProbeTarget(url) } catch { throw ValidationError("\(error)") }
}
