/// What the sign-in form shows.
struct SignInPage {
    var csrf: String
    var next: String
    var username: String = ""
    var error: String?
}
