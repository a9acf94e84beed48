import H2TunnelCore
import Testing

@Suite struct TunnelOutcomeTests {
    /// A send timeout resets the stream: the counter must say why, not "reset".
    @Test func firstNoteWinsOverTheCloseCode() {
        let outcome = TunnelOutcome()
        #expect(outcome.resolve("fin") == "fin")
        outcome.note("send-timeout")
        outcome.note("refused")
        #expect(outcome.resolve("reset-by-agent") == "send-timeout")
    }
}
