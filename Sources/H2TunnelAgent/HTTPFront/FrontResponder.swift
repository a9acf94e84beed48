import Foundation
import H2TunnelCore
import H2TunnelTickets
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore

/// Answers one browser connection's requests: the reserved `/.h2tunnel/` paths here,
/// everything else, once signed in, through the reverse proxy.
struct FrontResponder: Sendable {
    static let reservedPrefix = "/.h2tunnel/"
    static let signoutPath = "/.h2tunnel/signout"

    let front: HTTPFront
    /// The browser's address, from the tunnel stream's `forwarded` header.
    let browserIP: String
    /// The front's logger with the tunnel's `conn` (the relay's id of the browser connection).
    let logger: Logger

    func respond(_ request: Request, _ writer: consuming ResponseWriter, _ channel: any Channel) async throws {
        let host = Self.hostWithoutPort(request.head.authority ?? "")
        switch request.uri.path {
        case Ticket.redeemPath:
            try await redeem(request, host: host, writer: writer)
        case Self.signoutPath:
            try await writer.writeResponse(FrontPage.redirect(.seeOther, to: front.relayURL + "/",
                                                              extra: [.setCookie: front.sessions.clearCookie]))
        case let path where path.hasPrefix(Self.reservedPrefix):
            let page = FrontPage.response(status: .notFound, title: "Not found", message: "No such page.")
            try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
        default:
            guard let user = await front.sessionUser(request.headers) else {
                try await noSession(request, writer: writer)
                return
            }
            if request.method == .connect {
                // RFC 8441 over HTTP/2; any other CONNECT is not for a web front.
                guard request.head.extendedConnectProtocol == "websocket" else {
                    try await writer.writeResponse(HTTPResponse(status: .methodNotAllowed, headerFields: [.contentLength: "0"]))
                    return
                }
                try await WebSocketTunnel.run(request, user: user, browserIP: browserIP, front: front,
                                              logger: logger, writer: writer)
                return
            }
            try await front.proxy.forward(request, user: user, browserIP: browserIP, logger: logger, writer: writer)
        }
    }

    /// Redeems a ticket from the relay: single use, for this host, signed by the relay.
    private func redeem(_ request: Request, host: String, writer: consuming ResponseWriter) async throws {
        let query = request.uri.queryParameters
        let token = query[Substring(Ticket.parameter)].map(String.init) ?? ""
        let target = query[Substring(Ticket.returnParameter)].map(String.init).flatMap(Self.localPath) ?? "/"
        do throws(TicketError) {
            guard front.serves(host) else { throw TicketError(.wrongAudience) }
            let claims = try await front.tickets.verify(token, host: host)
            switch front.replays.redeem(claims.id, expires: claims.expires) {
            case .fresh: break
            case .replayed: throw TicketError(.replayed)
            case .full:
                logger.warning("ticket refused", metadata: ["reason": "replay cache full", "host": "\(host)", "browser": "\(browserIP)"])
                AgentMetrics.ticket(outcome: "replay-cache-full")
                let page = FrontPage.response(status: .serviceUnavailable, title: "Too many sign-ins",
                                              message: "Too many sign-ins at once. Try again in a minute.",
                                              extra: [.retryAfter: "60"])
                try? await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
                return
            }
            let cookie = try? await front.sessions.issue(user: claims.user)
            guard let cookie else { throw TicketError(.malformed) }
            logger.info("signed in", metadata: ["user": "\(claims.user)", "host": "\(host)", "browser": "\(browserIP)"])
            AgentMetrics.ticket(outcome: "redeemed")
            try? await writer.writeResponse(FrontPage.redirect(.seeOther, to: target,
                                                               extra: [.setCookie: front.sessions.setCookie(cookie)]))
        } catch {
            logger.warning("ticket refused", metadata: ["reason": "\(error.reason.rawValue)", "host": "\(host)", "browser": "\(browserIP)"])
            AgentMetrics.ticket(outcome: error.reason.rawValue)
            let page = FrontPage.response(status: .forbidden, title: "This sign-in link cannot be used",
                                          message: Self.explain(error.reason),
                                          link: (front.relayURL + "/", "Back to your companies"))
            try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
        }
    }

    /// No valid session: a page load goes to the relay to sign in and comes back with a
    /// ticket; anything else (a form post, a fetch) is refused, as its body cannot follow.
    private func noSession(_ request: Request, writer: consuming ResponseWriter) async throws {
        if request.method == .get || request.method == .head {
            let back = Self.percentEncode(request.head.path ?? "/")
            let location = "\(front.relayURL)/open/\(front.tenant)?\(Ticket.returnParameter)=\(back)"
            try await writer.writeResponse(FrontPage.redirect(.found, to: location))
        } else {
            let page = FrontPage.response(status: .unauthorized, title: "Not signed in",
                                          message: "Sign in at the relay, then open this company again.",
                                          link: (front.relayURL + "/", "Sign in"))
            try await writer.write(response: page.0, body: ResponseBody(byteBuffer: page.1))
        }
    }

    static func explain(_ reason: TicketError.Reason) -> String {
        switch reason {
        case .expired: "This sign-in link has expired. Open the company again from the relay."
        case .badSignature: "This sign-in link was not issued by the relay."
        case .wrongAudience: "This sign-in link is for another company."
        case .replayed: "This sign-in link was already used. Open the company again from the relay."
        case .malformed: "This sign-in link is damaged. Open the company again from the relay."
        }
    }

    /// A path on this host only: "/x" yes; "//evil.example" and "/\evil.example" (which
    /// browsers read as another host) and anything not starting with "/" no.
    static func localPath(_ value: String) -> String? {
        guard value.hasPrefix("/"), !value.hasPrefix("//"), !value.hasPrefix("/\\"),
              !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
        return value
    }

    static func hostWithoutPort(_ authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            return String(authority[...end]).lowercased()
        }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "").lowercased()
    }

    private static let unreserved = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")

    static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "/"
    }
}
