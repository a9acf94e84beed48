/// A page that says one thing: a refusal, an offline company, an error.
enum MessageTemplate {
    static let name = "message"
    static let text = """
        {{<layout}}
        {{$title}}{{title}} · H2Tunnel{{/title}}
        {{$main}}
        <section class="card narrow">
        <h1>{{title}}</h1>
        <p id="error" class="message">{{text}}</p>
        {{#link}}<p><a class="button" href="{{href}}">{{label}}</a></p>{{/link}}
        </section>
        {{/main}}
        {{/layout}}

        """
}
