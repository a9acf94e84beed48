import Hummingbird
import Mustache

/// Renders the site's pages from the Mustache templates in `Templates/`.
enum Page {
    /// Parsed once. The texts are constants, so a parse error is a defect the unit
    /// tests catch (every page is rendered there); if it ever happened, pages fall back
    /// to a plain-text answer rather than crash the relay.
    private static let library: MustacheLibrary? = {
        var library = MustacheLibrary()
        do {
            try library.register(LayoutTemplate.text, named: LayoutTemplate.name)
            try library.register(SignInTemplate.text, named: SignInTemplate.name)
            try library.register(CompaniesTemplate.text, named: CompaniesTemplate.name)
            try library.register(MessageTemplate.text, named: MessageTemplate.name)
        } catch {
            return nil
        }
        return library
    }()

    /// True when every template parsed (checked by the tests).
    static var templatesParsed: Bool { library != nil }

    static func html(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        guard let text = library?.render(object, withTemplate: template) else {
            return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "The relay's pages are unavailable.\n")))
        }
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    struct Message {
        struct Link { var href: String; var label: String }
        var title: String
        var text: String
        var link: Link?
    }

    static func message(status: HTTPResponse.Status, title: String, text: String,
                        link: (href: String, label: String)? = nil) -> Response {
        html(MessageTemplate.name, Message(title: title, text: text, link: link.map { .init(href: $0.href, label: $0.label) }),
             status: status)
    }

    /// 303 See Other (RFC 9110 §15.4.4): after a form post, and for every redirect here,
    /// the browser follows with a GET.
    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .contentLength: "0"])
    }
}
