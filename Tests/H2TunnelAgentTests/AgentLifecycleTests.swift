import Foundation
import H2TunnelCore
import Logging
import NIOPosix
import ServiceLifecycle
import Testing
@testable import H2TunnelAgent

/// An app that embeds the agent puts it in its own `ServiceGroup`: the group starts it,
/// its graceful shutdown drains it, and the event loops the app handed it stay the app's.
@Suite struct AgentLifecycleTests {
    /// A development PKI from `Tools/gen-pki`, made once per test run.
    static let pki: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("h2tunnel-agent-unit-pki-\(getpid())").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("Tools/gen-pki").path, out, "--tenants", "acme"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return out }
        process.waitUntilExit()
        atexit { try? FileManager.default.removeItem(atPath: AgentLifecycleTests.pki) }
        return out
    }()

    static func configuration() -> AgentConfiguration {
        // Port 1 on loopback refuses: the agent keeps dialling, which is all this needs.
        AgentConfiguration(relayHost: "127.0.0.1", relayPort: 1, relayHostname: "agents.relay.localhost",
                           relayCAPath: pki + "/ca.pem", certificatePath: pki + "/tenants/acme/agent.pem",
                           privateKeyPath: pki + "/tenants/acme/agent.key",
                           tenantCertificatePath: pki + "/tenants/acme/tenant.pem",
                           tenantKeyPath: pki + "/tenants/acme/tenant.key", upstream: .tcp(host: "127.0.0.1", port: 1))
    }

    @Test func serviceGroupStartsAndDrainsTheAgentAndLeavesTheGroupAlone() async throws {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let agent = try Agent(configuration: Self.configuration(), logger: logger, group: loops)
        #expect(agent.tenant == "acme")
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [agent], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(agent.phase.current == .stopped)
        // The loops the app handed in still run: the app shuts them down, not the agent.
        let answer = try await loops.next().submit { 42 }.get()
        #expect(answer == 42)
        try await loops.shutdownGracefully()
    }

    @Test func failedReloadKeepsTheLoadedCertificates() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("h2tunnel-reload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["tenant.pem", "tenant.key"] {
            try FileManager.default.copyItem(atPath: Self.pki + "/tenants/acme/" + name, toPath: directory + "/" + name)
        }
        var configuration = Self.configuration()
        configuration.tenantCertificatePath = directory + "/tenant.pem"
        configuration.tenantKeyPath = directory + "/tenant.key"
        let certificates = try AgentCertificates(configuration: configuration)
        let before = certificates.tenant?.certificateSHA256
        #expect(before?.count == 64)

        // The relay's key is not the tenant certificate's: refused, naming the file.
        try FileManager.default.removeItem(atPath: directory + "/tenant.key")
        try FileManager.default.copyItem(atPath: Self.pki + "/relay.key", toPath: directory + "/tenant.key")
        let error = #expect(throws: (any Error).self) { try certificates.reload() }
        #expect("\(error.map { "\($0)" } ?? "")".contains(directory + "/tenant.key"))
        #expect(certificates.tenant?.certificateSHA256 == before)

        // The relay's certificate and key match, but are not for tenant acme.
        try FileManager.default.removeItem(atPath: directory + "/tenant.pem")
        try FileManager.default.copyItem(atPath: Self.pki + "/relay.pem", toPath: directory + "/tenant.pem")
        let other = #expect(throws: (any Error).self) { try certificates.reload() }
        #expect("\(other.map { "\($0)" } ?? "")".contains("--tenant-cert \(directory)/tenant.pem is not for tenant 'acme'"))
        #expect(certificates.tenant?.certificateSHA256 == before)
    }
}
