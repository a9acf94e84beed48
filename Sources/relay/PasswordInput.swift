import Foundation
import H2TunnelStore

/// A new password for `relay user add|passwd`: the first line of stdin when stdin is not a
/// terminal (scripts: `printf '%s\n' "$pw" | relay user add bob --store …`), else typed
/// twice at a prompt that does not echo.
enum PasswordInput {
    static func read(for user: String) -> String {
        let password: String
        if isatty(STDIN_FILENO) == 0 {
            password = readLine(strippingNewline: true).map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 } ?? ""
        } else {
            let first = prompt("Password for \(user): ")
            if first.isEmpty { fail("empty password") }
            guard prompt("Again: ") == first else { fail("the passwords do not match") }
            password = first
        }
        if password.isEmpty { fail("empty password") }
        if password.utf8.count > StoreNames.maxPasswordBytes {
            fail("password longer than \(StoreNames.maxPasswordBytes) bytes")
        }
        return password
    }

    /// Reads one line from the terminal with echo off (termios), restoring it after. Echo
    /// goes off before the prompt shows, so nothing typed after the prompt is echoed.
    private static func prompt(_ text: String) -> String {
        var saved = termios()
        let haveTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if haveTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        }
        FileHandle.standardError.write(Data(text.utf8))
        let line = readLine(strippingNewline: true) ?? ""
        if haveTerminal {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return line
    }
}
