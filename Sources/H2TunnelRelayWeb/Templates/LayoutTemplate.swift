/// The frame of every page: a header with the product name, the page's main part, and
/// the stylesheet (no inline styles or scripts: the Content-Security-Policy allows none).
/// Mustache `{{ }}` escapes HTML; pages fill the `{{$…}}` blocks (template inheritance).
enum LayoutTemplate {
    static let name = "layout"
    static let text = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light">
        <title>{{$title}}H2Tunnel{{/title}}</title>
        <link rel="stylesheet" href="/static/site.css">
        </head>
        <body>
        <header class="bar">
        <div class="wrap bar-inner">
        <a class="brand" href="/"><span class="mark" aria-hidden="true">H2</span><span>H2Tunnel</span></a>
        {{$nav}}{{/nav}}
        </div>
        </header>
        <main class="wrap">
        {{$main}}{{/main}}
        </main>
        <footer class="wrap foot">H2Tunnel · your companies' applications, encrypted end to end.</footer>
        </body>
        </html>

        """
}
