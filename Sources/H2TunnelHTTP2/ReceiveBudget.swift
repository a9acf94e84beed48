/// When bytes received on a connection give their connection-level window back.
///
/// Each stream's window bounds what that stream can make us hold; the connection window
/// is shared by all of them. Given back only once bytes are written onward, the
/// connection window is lost to whichever streams stop being read: sixteen browsers
/// that stop reading a download (a laptop gone to sleep, a paused tab) each hold their
/// stream's 1 MiB, exhaust the 16 MiB connection window between them, and every other
/// tunnel of that company stalls. So the connection window comes back on receipt while
/// the bytes held (received, not yet written onward) stay within `budget`, and only
/// beyond it once they are written onward. What one connection can make us hold stays
/// bounded: `budget` + the connection window.
///
/// Each byte's connection window is given back exactly once: either when it arrives or,
/// while over budget, when it leaves.
struct ReceiveBudget {
    /// Bytes held whose connection window comes back on receipt.
    let budget: Int
    /// Received on some open stream, not yet written onward (or dropped with the stream).
    private(set) var held = 0
    /// Held bytes whose connection window has not been given back yet.
    private(set) var owed = 0

    init(budget: Int) {
        self.budget = max(0, budget)
    }

    /// True while held bytes exceed the budget: the connection window is being spent.
    var isExceeded: Bool { held > budget }

    /// `count` bytes arrived for an open stream; returns the connection window to give back now.
    mutating func received(_ count: Int) -> Int {
        held += count
        owed += count
        return settle()
    }

    /// `count` held bytes were written onward or dropped; returns the window to give back now.
    mutating func released(_ count: Int) -> Int {
        held -= min(count, held)
        return settle()
    }

    /// Keeps only the bytes above the budget unpaid.
    private mutating func settle() -> Int {
        let pay = max(0, owed - max(0, held - budget))
        owed -= pay
        return pay
    }
}
