import Foundation

/// What the companies page shows.
struct CompaniesPage {
    struct Company {
        var id: String
        var name: String
        var online: Bool
        var status: String
        var statusLabel: String
        var seen: String
    }
    var user: String
    var csrf: String
    var summary: String
    var companies: [Company]

    init(user: String, csrf: String, companies: [Company]) {
        self.user = user
        self.csrf = csrf
        self.companies = companies
        let online = companies.filter(\.online).count
        summary = companies.isEmpty ? "Companies shared with you appear here."
            : "\(companies.count) \(companies.count == 1 ? "company" : "companies"), \(online) online."
    }

    static func company(id: String, name: String, online: Bool, lastSeen: Date?, now: Date = Date()) -> Company {
        let seen: String
        if online {
            seen = "Connected now"
        } else if let lastSeen {
            seen = "Last seen \(ago(now.timeIntervalSince(lastSeen)))"
        } else {
            seen = "Not connected since the relay started"
        }
        return Company(id: id, name: name, online: online, status: online ? "online" : "offline",
                       statusLabel: online ? "Online" : "Offline", seen: seen)
    }

    /// "just now", "5 minutes ago", "3 hours ago", "2 days ago".
    static func ago(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        func plural(_ n: Int, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s") ago" }
        switch s {
        case ..<60: return "just now"
        case ..<3600: return plural(s / 60, "minute")
        case ..<86_400: return plural(s / 3600, "hour")
        default: return plural(s / 86_400, "day")
        }
    }
}
