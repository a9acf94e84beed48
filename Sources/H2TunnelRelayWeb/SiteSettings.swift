/// What the relay's site needs to know about where it runs.
public struct SiteSettings: Sendable {
    /// The relay's own hostname (`--hostname`), for page titles and log lines.
    public var hostname: String
    /// Tenants are `<id>.<tenantDomain>`: where `/open/<id>` sends the browser.
    public var tenantDomain: String
    /// The port browsers use in URLs (`--public-port`); nil: the port the browser
    /// connected to. 443 is left out of URLs.
    public var publicPort: Int?
    /// How long a sign-in lasts. Absolute, not sliding: a stolen cookie stops working.
    public var sessionLifetime: Duration = .seconds(12 * 60 * 60)
    /// Idle HTTP connections (no request, no open stream) are closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// An HTTP/2 client that sends nothing at all (not even the answer to the idle
    /// GOAWAY's PING) is closed after this (`CloseWhenQuietHandler`).
    public var silentPeerTimeout: Duration = .seconds(90)

    public init(hostname: String, tenantDomain: String, publicPort: Int?) {
        self.hostname = hostname
        self.tenantDomain = tenantDomain
        self.publicPort = publicPort
    }

    /// `:PORT` for a URL, or nothing for 443 (or when the port is unknown).
    func portSuffix(connectedPort: Int?) -> String {
        guard let port = publicPort ?? connectedPort, port != 443 else { return "" }
        return ":\(port)"
    }
}
