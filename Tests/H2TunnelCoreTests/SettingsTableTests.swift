import Foundation
import H2TunnelCore
import NIOCore
import Testing

/// The settings table: one entry gives a flag, an `H2TUNNEL_*` variable and a JSON or YAML
/// key, taken in that order, each value checked, every refusal one line naming the setting.
@Suite final class SettingsTableTests {
    struct Sample {
        var listen = ""
        var ping = 0.0
        var names: [String] = []
        var cert: String?
        var sendTimeout: TimeAmount?
        var threads = 0
        var hostname = ""
    }

    static let table = SettingsTable<Sample>(command: "sample run", entries: [
        Setting<String>.text("listen", "HOST:PORT", default: "0.0.0.0:443", help: "Public port.") { _ = try HostPort.parse($0) }
            .sets { s, v in s.listen = v },
        Setting<Double>.number("ping-interval", default: 15, in: 0.1...3600, help: "Seconds between PINGs.")
            .sets { s, v in s.ping = v },
        Setting<[String]>.list("tenant-name", "NAME", help: "A name served.").sets { s, v in s.names = v },
        Setting<String?>.path("cert", readable: true, help: "Certificate.").sets { s, v in s.cert = v },
        Setting<TimeAmount?>.secondsOrNever("send-timeout", default: 60, help: "Send timeout.").sets { s, v in s.sendTimeout = v },
        Setting<Int>.count("threads", default: 1, in: 1...1024, help: "Threads.").sets { s, v in s.threads = v },
        Setting<String?>.text("hostname", "NAME", help: "Name.").setsRequired { s, v in s.hostname = v },
    ])

    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Each test has its own instance and folder; this is its teardown.
    deinit { try? FileManager.default.removeItem(at: folder) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func sample(_ arguments: [String], _ environment: [String: String] = [:]) throws -> Sample {
        var sample = Sample()
        try Self.table.apply(try Self.table.resolve(arguments: arguments, environment: environment), to: &sample)
        return sample
    }

    func refusal(_ arguments: [String], _ environment: [String: String] = [:]) -> String {
        do {
            _ = try sample(arguments, environment)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let config = try write("a.json", #"{"listen": "10.0.0.1:1", "ping-interval": 2, "hostname": "file.example"}"#)
        let environment = ["H2TUNNEL_LISTEN": "10.0.0.2:2", "H2TUNNEL_CONFIG": config]
        #expect(try sample(["--listen", "10.0.0.3:3"], environment).listen == "10.0.0.3:3")
        #expect(try sample([], environment).listen == "10.0.0.2:2")
        #expect(try sample(["--config", config]).listen == "10.0.0.1:1")
        #expect(try sample(["--hostname", "x.example"]).listen == "0.0.0.0:443")
        let values = try Self.table.resolve(arguments: ["--ping-interval=3"], environment: environment)
        var resolved = Sample()
        try Self.table.apply(values, to: &resolved)
        #expect(resolved.ping == 3 && resolved.hostname == "file.example" && resolved.threads == 1)
        let ping = Setting<Double>.number("ping-interval", default: 15, in: 0.1...3600, help: "")
        let listen = Setting<String>.text("listen", "HOST:PORT", default: "0.0.0.0:443", help: "")
        let threads = Setting<Int>.count("threads", default: 1, in: 1...1024, help: "")
        let hostname = Setting<String?>.text("hostname", "NAME", help: "")
        #expect(values.source(of: ping) == .flag && values.source(of: listen) == .environment)
        #expect(values.source(of: hostname) == .file(config) && values.source(of: threads) == .default)
        #expect(values[ping] == 3 && values[threads] == 1)
    }

    /// The variable is what swift-configuration's `EnvironmentVariablesProvider` reads for
    /// the key, and what `--help` prints.
    @Test func environmentNamesAreTheNameUpperCased() throws {
        #expect(Setting<Double>.number("ping-interval", default: 1, in: 0...2, help: "").spec.environmentVariable
                == "H2TUNNEL_PING_INTERVAL")
        let got = try sample(["--hostname", "a.example"], ["H2TUNNEL_PING_INTERVAL": "0.5", "H2TUNNEL_THREADS": "4",
                                                           "PING_INTERVAL": "9", "H2TUNNEL_TENANT_NAME": "a.example, b.example"])
        #expect(got.ping == 0.5 && got.threads == 4 && got.names == ["a.example", "b.example"])
        for line in ["--ping-interval SECONDS  (H2TUNNEL_PING_INTERVAL)", "--tenant-name NAME  (H2TUNNEL_TENANT_NAME)",
                     "--config FILE  (H2TUNNEL_CONFIG)"] {
            #expect(Self.table.help.contains(line), "\(line)")
        }
    }

    @Test func outOfRangeNamesTheSettingAsGiven() throws {
        #expect(refusal(["--hostname", "a", "--ping-interval", "-1"])
                == "--ping-interval must be between 0.1 and 3600, got -1 (also H2TUNNEL_PING_INTERVAL or 'ping-interval' in a config file)")
        #expect(refusal(["--hostname", "a"], ["H2TUNNEL_THREADS": "0"])
                == "H2TUNNEL_THREADS must be between 1 and 1024, got 0 (also --threads or 'threads' in a config file)")
        let config = try write("range.yaml", "ping-interval: 5000\nhostname: a\n")
        #expect(refusal(["--config", config])
                == "config file \(config): 'ping-interval' must be between 0.1 and 3600, got 5000 (also --ping-interval or H2TUNNEL_PING_INTERVAL)")
        #expect(refusal(["--hostname", "a", "--threads", "2.5"]).hasPrefix("--threads must be a whole number, got 2.5"))
        #expect(refusal(["--hostname", "a", "--ping-interval", "nan"]).hasPrefix("--ping-interval must be between"))
        #expect(refusal(["--hostname", "a", "--listen", "nowhere"]).hasPrefix("--listen is not valid: expected HOST:PORT"))
    }

    /// 0 means never; under a second is refused (a healthy transfer pauses that long).
    @Test func timeoutsAreNeverOrAtLeastASecond() throws {
        #expect(try sample(["--hostname", "a", "--send-timeout", "0"]).sendTimeout == nil)
        #expect(try sample(["--hostname", "a", "--send-timeout", "2.5"]).sendTimeout == .milliseconds(2500))
        #expect(try sample(["--hostname", "a"]).sendTimeout == .seconds(60))
        for bad in ["0.5", "-1", "1e6"] {
            #expect(refusal(["--hostname", "a", "--send-timeout", bad]).hasPrefix("--send-timeout must be"), "\(bad)")
        }
    }

    /// The same settings as YAML and as JSON give the same values; a relative path is taken
    /// from the file's folder; a list is a list or a comma string.
    @Test func yamlAndJSONReadAlike() throws {
        _ = try write("cert.pem", "PEM")
        let yaml = try write("s.yaml", """
            # comments are fine
            listen: "127.0.0.1:8443"
            ping-interval: 0.5
            tenant-name:
              - a.example
              - b.example
            cert: cert.pem
            send-timeout: 0
            hostname: relay.example
            """)
        let json = try write("s.json", """
            {"listen": "127.0.0.1:8443", "ping-interval": "0.5", "tenant-name": "a.example,b.example",
             "cert": "cert.pem", "send-timeout": 0, "hostname": "relay.example"}
            """)
        for config in [yaml, json] {
            let got = try sample(["--config", config])
            #expect(got.listen == "127.0.0.1:8443" && got.ping == 0.5 && got.sendTimeout == nil, "\(config)")
            #expect(got.names == ["a.example", "b.example"], "\(config)")
            #expect(got.cert == folder.appendingPathComponent("cert.pem").path, "\(config)")
        }
        // A flag's relative path stays relative to the working directory, as the shell gave it.
        #expect(refusal(["--config", yaml, "--cert", "no-such-cert.pem"]).hasPrefix("--cert cannot read no-such-cert.pem: "))
    }

    @Test func repeatedFlagsKeepTheLastOrAll() throws {
        let got = try sample(["--hostname", "a", "--listen", "1.1.1.1:1", "--listen", "2.2.2.2:2",
                              "--tenant-name", "a.example", "--tenant-name", "b.example,c.example"])
        #expect(got.listen == "2.2.2.2:2")
        #expect(got.names == ["a.example", "b.example", "c.example"])
    }

    @Test func badFilesAreOneLineNamingTheKey() throws {
        let unknown = try write("u.json", #"{"lisen": "0.0.0.0:443"}"#)
        #expect(refusal(["--config", unknown])
                == "config file \(unknown): unknown key 'lisen' (did you mean 'listen'? sample run --help lists the keys)")
        let nestedConfig = try write("c.json", #"{"config": "other.json", "hostname": "a"}"#)
        #expect(refusal(["--config", nestedConfig]).contains("unknown key 'config'"))
        let unknownYAML = try write("u.yml", "hostname: a\nlisen: x\n")
        #expect(refusal(["--config", unknownYAML]).contains("unknown key 'lisen'"))
        let wrongType = try write("w.json", #"{"ping-interval": "soon", "hostname": "a"}"#)
        #expect(refusal(["--config", wrongType]).hasPrefix("config file \(wrongType): 'ping-interval' must be a number, got 'soon'"))
        let list = try write("l.json", #"{"listen": ["a"], "hostname": "a"}"#)
        #expect(refusal(["--config", list]).hasPrefix("config file \(list): 'listen' must be a string"))
        let nested = try write("n.yaml", "listen:\n  host: a\n")
        #expect(refusal(["--config", nested]).hasPrefix("config file \(nested): 'listen' must be a string, not a mapping"))
        let missing = folder.appendingPathComponent("missing.yaml").path
        #expect(refusal(["--config", missing]) == "cannot read config file \(missing): no such file")
        #expect(refusal(["--config", try write("x.toml", "")]).contains("must end in .json, .yaml or .yml"))
        #expect(refusal(["--config", try write("bad.json", "{")]).contains("is not a JSON object"))
        // A directory opens but does not read: refused at start, as a missing file is.
        let unreadable = try write("d.json", #"{"cert": ".", "hostname": "a"}"#)
        #expect(refusal(["--config", unreadable]).hasPrefix("config file \(unreadable): 'cert' cannot read \(folder.path)"))
        for message in [refusal(["--config", unknown]), refusal(["--config", wrongType])] {
            #expect(!message.contains("\n"))
        }
    }

    @Test func flagsAreReadStrictly() {
        #expect(refusal(["--lisen", "x"]) == "unknown option '--lisen' (did you mean '--listen'? sample run --help lists the settings)")
        #expect(refusal(["--colour", "x"]) == "unknown option '--colour' (sample run --help lists the settings)")
        #expect(refusal(["--hostname"]) == "--hostname needs a value")
        #expect(refusal(["--hostname", "a", "stray"]).hasPrefix("unexpected argument 'stray'"))
        #expect(refusal([]) == "missing --hostname (or H2TUNNEL_HOSTNAME, or 'hostname' in a config file)")
        // A wrong value is named before a missing one.
        #expect(refusal(["--threads", "0"]).hasPrefix("--threads must be between 1 and 1024"))
    }
}
