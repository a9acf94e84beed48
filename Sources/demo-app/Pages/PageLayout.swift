/// The frame every page shares: header with the company and the signed-in
/// user, the live element, and a sign-out link to the agent's reserved path.
struct PageLayout {
    let company: String
    /// From X-Forwarded-User, which only the agent sets (it strips any copy
    /// the browser sends); nil when the app is reached directly.
    let user: String?

    func render(title: String, content: String) -> String {
        let company = HTML.escape(company)
        let userBlock = user.map {
            """
            <span class="user">Signed in as <strong id="user">\(HTML.escape($0))</strong></span>
            <a id="signout-link" class="signout" href="/.h2tunnel/signout">Sign out</a>
            """
        } ?? #"<span class="user" id="user-none">Not signed in through the tunnel</span>"#
        return """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title)) · \(company)</title>
        <link rel="stylesheet" href="/app/static/app.css">
        <script src="/app/static/live.js" defer></script>
        </head>
        <body>
        <header class="top">
        <a class="brand" href="/app">\(company) <span>Ledgers</span></a>
        <nav>\(userBlock)</nav>
        </header>
        <main>
        <p id="live" class="live" data-state="waiting" data-event-id="0" aria-live="polite">
        <span class="dot" aria-hidden="true"></span><span id="live-text">Connecting to live updates…</span>
        </p>
        \(content)
        </main>
        <footer>Demo application behind H2Tunnel · <a href="/api/ledgers">JSON API</a></footer>
        </body>
        </html>

        """
    }
}
