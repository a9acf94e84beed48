import AsyncHTTPClient
import Foundation
import H2TunnelCore
import NIOCore

/// Reads a running agent's `/status` (for `agent status`).
public enum AgentStatusClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `host:port`: the agent's admin listener. Throws `Failure` when nothing answers in
    /// `timeout`, or what answers is not an agent's admin listener.
    public static func fetch(host: String, port: Int, timeout: TimeAmount = .seconds(5)) async throws -> AgentStatus {
        let address = HostPort.join(host: host, port: port)
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://\(address)/status"), timeout: timeout)
        } catch {
            let reason = ErrorReason.text(error)
            throw Failure(description: "the agent's admin listener at \(address) does not answer (\(reason)): is the agent running, with --admin-listen \(address)?")
        }
        let body = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok,
              let status = try? JSONDecoder().decode(AgentStatus.self, from: Data(body.readableBytesView)) else {
            throw Failure(description: "\(address) answered /status with HTTP \(response.status.code), not an agent's status: is --admin right?")
        }
        return status
    }
}
