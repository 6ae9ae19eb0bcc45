import Synchronization
import Testing
@testable import ProbeDaemon

/// Issue 22: at the descriptor limit probed wrote ~25 MB/s of the same warning. A refusal that
/// repeats is logged once, then counted and summed up at most once a minute.
@Suite struct CountedWarningTests {
    @Test func aStorm_costsALineAMinute_andTheOperatorLearnsItsSize() {
        let clock = ManualClock(1_000_000_000)
        let lines = Mutex<[String]>([])
        let warning = CountedWarning(clock: clock, summary: { n, s in "\(n) more in \(s) s" }) { line in lines.withLock { $0.append(line) } }
        for i in 0..<100_000 { warning.note("refused \(i)") }
        #expect(lines.withLock { $0 } == ["refused 0"])
        #expect(warning.pending)
        clock.advance(seconds: 30)
        warning.flush()
        #expect(lines.withLock { $0.count } == 1)  // not a minute yet
        clock.advance(seconds: 30)
        warning.flush()
        #expect(lines.withLock { $0 } == ["refused 0", "99999 more in 60 s"])
        #expect(!warning.pending)
        // A new storm after a quiet minute starts with a full line again.
        clock.advance(seconds: 120)
        warning.note("refused again")
        #expect(lines.withLock { $0.last } == "refused again")
    }

    @Test func theNextOccurrenceAfterAMinute_reportsTheCountFirst() {
        let clock = ManualClock(1_000_000_000)
        let lines = Mutex<[String]>([])
        let warning = CountedWarning(clock: clock, summary: { n, s in "\(n) more in \(s) s" }) { line in lines.withLock { $0.append(line) } }
        warning.note("a")
        warning.note("b")
        warning.note("c")
        clock.advance(seconds: 61)
        warning.note("d")
        #expect(lines.withLock { $0 } == ["a", "2 more in 61 s", "d"])
        warning.note("e")
        warning.flush(now: true)  // the condition is over: say so at once
        #expect(lines.withLock { $0.last } == "1 more in 0 s")
    }

    @Test func suppressedLines_areNeverBuilt() {
        let warning = CountedWarning(clock: ManualClock(1), summary: { _, _ in "" }) { _ in }
        var built = 0
        func line() -> String { built += 1; return "x" }
        for _ in 0..<50 { warning.note(line()) }
        #expect(built == 1)
    }
}
