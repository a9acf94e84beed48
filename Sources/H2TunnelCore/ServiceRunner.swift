import Logging
import ServiceLifecycle

/// Runs a process's services in a swift-service-lifecycle `ServiceGroup` until SIGTERM or
/// SIGINT starts their graceful shutdown.
///
/// The group is given no signals of its own: it would watch them with Dispatch signal
/// sources, which on Linux lose a signal that lands on a thread not blocking it
/// (`ProcessSignals` explains), and would take over the disposition from our sigaction
/// handler. `waitForTermination` (whose second signal still ends the process at once)
/// triggers the group's graceful shutdown instead.
public enum ServiceRunner {
    /// Returns when every service has returned. `onTermination` runs when the signal
    /// arrives, before the services hear of it (sd_notify's `STOPPING=1`).
    public static func run(_ services: [any Service], logger: Logger,
                           onTermination: @escaping @Sendable () -> Void = {}) async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        // Unstructured: the wait cannot be cancelled, and a group that ends on its own
        // (a service failed) must not wait for a signal that never comes.
        Task {
            await waitForTermination()
            onTermination()
            await group.triggerGracefulShutdown()
        }
        try await group.run()
    }
}
