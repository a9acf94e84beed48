import HTTPTypes
import NIOCore

/// The agent's own small HTML pages (refused ticket, app down), with headers that keep
/// them out of caches and frames.
enum FrontPage {
    /// `link`: where the reader can go next (the relay's company list).
    static func response(status: HTTPResponse.Status, title: String, message: String,
                         link: (href: String, text: String)? = nil, extra: HTTPFields = [:]) -> (HTTPResponse, ByteBuffer) {
        let next = link.map { "<p><a id=\"next\" href=\"\(escape($0.href))\">\(escape($0.text))</a></p>" } ?? ""
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
            h1{font-size:1.4rem}p{line-height:1.5;color:#555}a{color:#0b57d0}</style></head>
            <body><h1 id="title">\(escape(title))</h1><p id="message">\(escape(message))</p>\(next)</body></html>

            """
        let body = ByteBuffer(string: html)
        var fields: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentLength: "\(body.readableBytes)",
            .cacheControl: "no-store",
        ]
        fields[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        fields.append(contentsOf: extra)
        return (HTTPResponse(status: status, headerFields: fields), body)
    }

    /// Headers only: a redirect.
    static func redirect(_ status: HTTPResponse.Status, to location: String, extra: HTTPFields = [:]) -> HTTPResponse {
        var fields: HTTPFields = [.location: location, .contentLength: "0", .cacheControl: "no-store"]
        fields.append(contentsOf: extra)
        return HTTPResponse(status: status, headerFields: fields)
    }

    static let appDown = (title: "The application is not answering",
                          message: "The company's application did not answer the tunnel. Try again in a moment.")

    private static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
