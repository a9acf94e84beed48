import Logging

/// A logger for one tunnelled connection, whose lines carry `conn`: the relay's id of the
/// browser's connection, so one id finds its lines at both ends.
///
/// The id goes into each line's own metadata as the line is written, rather than onto a
/// copy of the logger made up front: setting a logger's metadata copies its handler and
/// builds a dictionary (~2,500 instructions a connection, callgrind), and at the levels
/// production runs most connections write no line at all (the agent none; the relay its
/// access line at `info`).
public struct ConnectionLogger: Sendable {
    public let base: Logger
    public let conn: String?

    public init(_ base: Logger, conn: String?) {
        self.base = base
        self.conn = conn
    }

    /// The logger with `conn` set, for a component that takes a `Logger` and logs often
    /// (an agent connection's endpoint): made once there, where its cost does not recur.
    public var logger: Logger {
        guard let conn else { return base }
        var logger = base
        logger[metadataKey: "conn"] = "\(conn)"
        return logger
    }

    public func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
                      file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.debug, message(), metadata(), file: file, function: function, line: line)
    }

    public func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
                     file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.info, message(), metadata(), file: file, function: function, line: line)
    }

    public func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
                        file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.warning, message(), metadata(), file: file, function: function, line: line)
    }

    private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                     _ metadata: @autoclosure () -> Logger.Metadata, file: String, function: String, line: UInt) {
        guard base.logLevel <= level else { return }
        var metadata = metadata()
        if let conn { metadata["conn"] = "\(conn)" }
        base.log(level: level, message(), metadata: metadata, file: file, function: function, line: line)
    }
}
