/// The signed-in user's companies, each with its live state and an Open link
/// (contract ids: `companies`, `.company[data-tenant][data-status]`, `a.open`, `signout`).
enum CompaniesTemplate {
    static let name = "companies"
    static let text = """
        {{<layout}}
        {{$title}}Your companies · H2Tunnel{{/title}}
        {{$nav}}
        <div class="account">
        <span class="user" title="Signed in as {{user}}">{{user}}</span>
        <form id="signout" method="post" action="/signout">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button id="signout-submit" class="button quiet" type="submit">Sign out</button>
        </form>
        </div>
        {{/nav}}
        {{$main}}
        <h1>Your companies</h1>
        <p class="lead">{{summary}}</p>
        <ul id="companies" class="companies">
        {{#companies}}
        <li class="company" data-tenant="{{id}}" data-status="{{status}}">
        <div class="who">
        <span class="name">{{name}}</span>
        <span class="id">{{id}}</span>
        </div>
        <div class="state">
        <span class="badge {{status}}">{{statusLabel}}</span>
        <span class="seen">{{seen}}</span>
        </div>
        <a class="open button{{^online}} quiet{{/online}}" href="/open/{{id}}">Open</a>
        </li>
        {{/companies}}
        </ul>
        {{^companies}}<p class="empty">No company has been shared with you yet. Ask your administrator for access.</p>{{/companies}}
        {{/main}}
        {{/layout}}

        """
}
