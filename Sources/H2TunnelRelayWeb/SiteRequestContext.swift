import Hummingbird
import HummingbirdAuth
import NIOCore
import H2TunnelCore

/// The request context of the relay's site: Hummingbird's core plus the session.
struct SiteRequestContext: RequestContext, SessionRequestContext {
    var coreContext: CoreRequestContextStorage
    let sessions: SessionContext<SiteSession>
    /// The port the browser connected to (nil in router tests): the default public port.
    let localPort: Int?
    /// The browser's address, for log lines.
    let remoteAddress: String
    /// The key of the per-address sign-in limit (`AddressGroup.key`, H2TunnelCore).
    let rateLimitKey: String

    init(source: ApplicationRequestContextSource) {
        self.init(source: source, client: source.channel.remoteAddress, connectedPort: source.channel.localAddress?.port)
    }

    /// `client` and `connectedPort`: the browser's address and the port it connected to,
    /// which are not the channel's peer and local port behind a load balancer (PROXY
    /// protocol).
    init(source: ApplicationRequestContextSource, client: SocketAddress?, connectedPort: Int?) {
        coreContext = .init(source: source)
        sessions = .init()
        localPort = connectedPort
        remoteAddress = client?.ipAddress ?? "unknown"
        rateLimitKey = AddressGroup.key(client)
    }

    /// Forms are small: refuse a body larger than this with 413.
    var maxUploadSize: Int { 16 * 1024 }
}
