/// The sign-in form (contract ids: `signin`, `signin-submit`, `error`).
enum SignInTemplate {
    static let name = "signin"
    static let text = """
        {{<layout}}
        {{$title}}Sign in · H2Tunnel{{/title}}
        {{$main}}
        <section class="card narrow">
        <h1>Sign in</h1>
        <p class="lead">Open your companies' applications.</p>
        {{#error}}<p id="error" class="alert" role="alert">{{error}}</p>{{/error}}
        <form id="signin" method="post" action="/signin">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="next" value="{{next}}">
        <label for="username">User name</label>
        <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="128" required value="{{username}}">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
        <button id="signin-submit" class="button" type="submit">Sign in</button>
        </form>
        </section>
        {{/main}}
        {{/layout}}

        """
}
