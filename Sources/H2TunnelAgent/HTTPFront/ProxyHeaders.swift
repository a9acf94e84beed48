import Foundation
import HTTPTypes
import NIOHTTP1

/// Header rewriting between the browser and the app (RFC 9110 §7.6).
enum ProxyHeaders {
    /// RFC 9110 §7.6.1: these describe one connection, not the message; a proxy must not
    /// forward them (plus what `Connection` itself lists). Proxy-Connection and Keep-Alive
    /// are the pre-standard spellings browsers and old servers still send.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer",
                                        "transfer-encoding", "upgrade"]

    /// The browser's own WebSocket handshake (RFC 6455 §4.1): the agent's client to the
    /// app makes its own.
    static let webSocketHandshake: Set<String> = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                                                  "sec-websocket-protocol", "sec-websocket-accept", "origin"]

    /// The headers to send the app: hop-by-hop ones removed, any forwarding header the
    /// browser sent removed (only this agent may say who the user is), the session cookie
    /// taken out of `Cookie`, `Host` the browser's, then our X-Forwarded-*.
    static func toApp(_ fields: HTTPFields, authority: String?, browserIP: String, user: String) -> HTTPHeaders {
        let dropped = connectionScoped(fields)
        var headers = HTTPHeaders()
        var cookies: [String] = []
        for field in fields {
            let name = field.name.canonicalName
            if dropped.contains(name) || name == "host" || name == "content-length" || name == "forwarded"
                || name.hasPrefix("x-forwarded-") { continue }
            if name == "cookie" {
                cookies.append(contentsOf: field.value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix(SessionKeys.cookieName + "=") })
                continue
            }
            headers.add(name: field.name.rawName, value: field.value)
        }
        if let authority { headers.replaceOrAdd(name: "host", value: authority) }
        // RFC 9113 §8.2.3: HTTP/2 may split Cookie into several fields; HTTP/1.1 wants one.
        if !cookies.isEmpty { headers.add(name: "cookie", value: cookies.joined(separator: "; ")) }
        headers.add(name: "x-forwarded-for", value: browserIP)
        headers.add(name: "x-forwarded-proto", value: "https")
        headers.add(name: "x-forwarded-user", value: user)
        return headers
    }

    /// The app's response headers for the browser, hop-by-hop ones removed.
    static func toBrowser(_ headers: HTTPHeaders) -> HTTPFields {
        let dropped = hopByHop.union(headers[canonicalForm: "connection"].map { $0.lowercased() })
        var fields = HTTPFields()
        for (name, value) in headers {
            let lower = name.lowercased()
            guard !dropped.contains(lower), let fieldName = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }

    /// The request's hop-by-hop names, with what its `Connection` header lists.
    private static func connectionScoped(_ fields: HTTPFields) -> Set<String> {
        var names = hopByHop
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") { names.insert(token.trimmingCharacters(in: .whitespaces).lowercased()) }
        }
        return names
    }

    /// The browser's address from the tunnel's `forwarded: for="1.2.3.4:5"` or
    /// `for="[::1]:5"` (RFC 7239 §6, as the relay writes it), without the port.
    static func browserIP(fromForwarded value: String) -> String {
        let text = (value.hasPrefix("for=") ? String(value.dropFirst(4)) : value)
            .trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        if text.hasPrefix("["), let end = text.firstIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<end])
        }
        if let colon = text.lastIndex(of: ":") { return String(text[..<colon]) }
        return text.isEmpty ? "unknown" : text
    }
}
