#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers

/// SIGTERM, SIGINT and SIGHUP, delivered every time.
///
/// libdispatch's signal sources on Linux read a signalfd that only sees a signal while the
/// thread it lands on blocks it; the process's other threads (event loops, the
/// concurrency pool) do not, and with the disposition at SIG_IGN, as a dispatch source
/// needs, a signal taken by one of them is dropped. A relay under load then ignored a
/// SIGTERM for good. Here a sigaction handler, which runs on whichever thread the kernel
/// picks, writes the signal number into a pipe (the self-pipe trick: write(2) is
/// async-signal-safe), and one thread reads the pipe and calls the handlers.
public enum ProcessSignals {
    private struct State {
        var handlers: [Int32: [@Sendable () -> Void]] = [:]
        var started = false
    }
    private static let state = NIOLockedValueBox(State())

    /// Calls `handler` on the signal thread each time `signal` arrives, from now on. The
    /// first handler for a signal replaces its default action (for SIGTERM: ending the
    /// process at once).
    public static func on(_ signal: Int32, _ handler: @escaping @Sendable () -> Void) {
        let first = state.withLockedValue { state -> Bool in
            if !state.started {
                state.started = true
                startReader()
            }
            state.handlers[signal, default: []].append(handler)
            return state.handlers[signal]!.count == 1
        }
        if first { installHandler(for: signal) }
    }

    private static func startReader() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        signalPipeWrite = fds[1]
        let readEnd = fds[0]
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                let handlers = state.withLockedValue { $0.handlers[Int32(byte)] ?? [] }
                for handler in handlers { handler() }
            }
        }
        thread.start()
    }

    private static func installHandler(for signal: Int32) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = relaySignalToPipe
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(signal, &action, nil)
    }
}

/// Written once before any handler is installed, read only by the signal handler.
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

private func relaySignalToPipe(_ signal: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalPipeWrite, &byte, 1)
    errno = saved
}
