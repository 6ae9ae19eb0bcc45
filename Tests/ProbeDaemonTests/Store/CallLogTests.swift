import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Synchronization
import Testing
@testable import ProbeDaemon

func entry(_ duration: UInt64, slow: Bool = true, failed: Bool = false, operation: String = "predict", attributes: [CallDetail.Attribute] = []) -> CallEntry {
    var flags: CallDetail.Flags = []
    if slow { flags.insert(.slow) }
    if failed { flags.insert(.failed) }
    return CallEntry(
        sequence: 0, service: "ranker", pid: 7, operation: operation,
        detail: CallDetail(operationID: 0, flags: flags, startNanoseconds: 0, startWallNanoseconds: 0, durationNanoseconds: duration,
                           attributes: attributes),
        errorType: failed ? "Timeout" : nil)
}

@Suite("CallLog")
struct CallLogTests {
    @Test func boundedLogs_keepTheNewestAndTheSlowest() {
        var logs = CallLogs(capacity: 10)
        // 1,000 slow calls with durations in a shuffled but known order.
        var rng = SystemRandomNumberGenerator()
        let durations = (1...1_000).map { UInt64($0) * 1_000 }.shuffled(using: &rng)
        for d in durations { _ = logs.add(entry(d)) }
        let log = logs.matching("predict")[0]
        #expect(log.slowCount == 1_000)
        #expect(log.newestSlow.map(\.detail.durationNanoseconds) == Array(durations.suffix(10).reversed()))
        #expect(log.slowestFirst.map(\.detail.durationNanoseconds) == (991...1_000).reversed().map { UInt64($0) * 1_000 })
        #expect(log.recentFailures.isEmpty)
    }

    @Test func failures_goToTheirOwnLog_andSlowFailuresToBoth() {
        var logs = CallLogs(capacity: 3)
        for i in 0..<5 { _ = logs.add(entry(UInt64(i), slow: false, failed: true)) }
        _ = logs.add(entry(99, slow: true, failed: true))
        let log = logs.matching(nil)[0]
        #expect(log.failureCount == 6 && log.slowCount == 1)
        #expect(log.newestFailures.map(\.detail.durationNanoseconds) == [99, 4, 3])
        #expect(log.newestSlow.map(\.detail.durationNanoseconds) == [99])
    }

    /// Issue 22: past the budget, new entries used to lose only their text; each operation still
    /// kept 300 entries, and 4,096 operations held 270 MB. Now the budget bounds everything kept.
    @Test func overTheByteBudget_theLargestLogGivesUpItsOldest_andTheTotalStaysWithin() {
        let budget = 200_000
        var logs = CallLogs(capacity: 100, budgetBytes: budget)
        for i in 0..<5 { _ = logs.add(entry(UInt64(i), slow: false, failed: true, operation: "quiet")) }
        let big = (0..<16).map { CallDetail.Attribute("key\($0)-" + String(repeating: "k", count: 40), String(repeating: "x", count: 256)) }
        for i in 0..<10_000 {
            _ = logs.add(entry(UInt64(i), failed: i % 2 == 0, operation: "noisy", attributes: big))
            #expect(logs.bytes <= budget)
        }
        #expect(logs.evicted > 0)
        // The flood evicted its own entries: the quiet operation keeps every one of its five.
        let quiet = logs.matching("quiet")[0]
        #expect(quiet.newestFailures.map(\.detail.durationNanoseconds) == [4, 3, 2, 1, 0])
        // The noisy one keeps its newest, and still counts everything it reported.
        let noisy = logs.matching("noisy")[0]
        #expect(noisy.slowCount == 10_000 && noisy.failureCount == 5_000)
        #expect(!noisy.newestSlow.isEmpty && noisy.newestSlow.count < 100)
        #expect(noisy.newestSlow.first!.detail.durationNanoseconds == 9_999)
        #expect(noisy.newestSlow.allSatisfy { !$0.detail.truncated && $0.detail.attributes.count == 16 })
    }

    @Test func manyOperations_overTheBudget_shareItEqually_andKeepTheirNewest() {
        let budget = 1 << 20
        var logs = CallLogs(capacity: 100, budgetBytes: budget)
        let operations = 400
        for round in 0..<100 {
            for op in 0..<operations {
                _ = logs.add(entry(UInt64(round), failed: true, operation: "op-\(op)", attributes: [.init("batch", String(round))]))
            }
        }
        #expect(logs.bytes <= budget)
        let kept = logs.matching(nil)
        let sizes = kept.map(\.footprintBytes)
        #expect(kept.count == operations)
        // Each holds its share, give or take an entry, and its newest entries.
        #expect(sizes.max()! - sizes.min()! <= 2 * entry(0, failed: true, attributes: [.init("batch", "99")]).footprintBytes + 64)
        #expect(kept.allSatisfy { $0.newestFailures.first?.detail.durationNanoseconds == 99 })
        #expect(kept.allSatisfy { $0.slowCount == 100 && $0.failureCount == 100 })
    }
}

@Suite("Store call details")
struct StoreCallDetailTests {
    @Test func slowAndFailedDetails_areListedNewestFirst_andErrorTypesCounted() async throws {
        let store = Store()
        await store.connect(1, pid: 42, service: "ranker", operations: ["predict"])
        await store.apply(.define(1, Definition(id: 1, kind: .errorType, name: "Ranker.Timeout")))
        await store.apply(.define(1, Definition(id: 2, kind: .errorType, name: "Ranker.BadInput")))
        let records = [
            EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 5, items: 4, errorTypeID: 1),
            EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 5, items: 4, errorTypeID: 1),
            EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 5, items: 4, errorTypeID: 2),
            EventRecord(operationID: 0, startNanoseconds: 0, durationNanoseconds: 80_000_000, items: 32),
        ]
        await store.apply(.events(1, droppedTotal: 0, records: records, bytes: 0))
        func detail(_ flags: CallDetail.Flags, _ type: UInt32, _ ns: UInt64, _ batch: String) -> CallDetail {
            CallDetail(operationID: 0, flags: flags, startNanoseconds: 1, startWallNanoseconds: 1_700_000_000_123_000_000,
                       durationNanoseconds: ns, items: 4, errorTypeID: type, errorDescription: type == 0 ? "" : "boom",
                       attributes: [.init("batch", batch)])
        }
        await store.apply(.callDetail(1, detail(.failed, 1, 5, "a"), operation: "predict", errorType: "Ranker.Timeout", bytes: 0))
        await store.apply(.callDetail(1, detail(.failed, 2, 5, "b"), operation: "predict", errorType: "Ranker.BadInput", bytes: 0))
        await store.apply(.callDetail(1, detail(.slow, 0, 80_000_000, "c"), operation: "predict", errorType: nil, bytes: 0))

        let errors = try JSONDecoder.snakeCaseForTests.decode(ErrorsReport.self, from: Data(await store.errorsJSON(operation: nil).utf8))
        #expect(errors.errors.map { $0.attributes["batch"] } == ["b", "a"])
        #expect(errors.errors.map(\.errorType) == ["Ranker.BadInput", "Ranker.Timeout"])
        #expect(errors.errors[0].message == "boom" && errors.errors[0].startTime == "2023-11-14T22:13:20.123Z")
        #expect(errors.operations.count == 1)
        #expect(errors.operations[0].errorTypes == ["Ranker.Timeout": 2, "Ranker.BadInput": 1])
        #expect(errors.operations[0].errorRate1M == 0.75)

        let slow = try JSONDecoder.snakeCaseForTests.decode(SlowCallsReport.self, from: Data(await store.slowJSON(operation: "predict").utf8))
        #expect(slow.slowCalls.count == 1 && slow.slowCalls[0].attributes == ["batch": "c"] && slow.slowCalls[0].pid == 42)
        #expect(await store.slowJSON(operation: "other").contains("\"slow_calls\":[]"))

        let row = try await store.stats().operations.first { $0.pid == 42 }!
        #expect(row.items == 44 && row.slowCalls == 1 && row.errorRate1M == 0.75)

        // `probectl reset` clears the kept calls with the statistics (a new user's finding).
        _ = await store.resetStatistics()
        let slowAfter = try JSONDecoder.snakeCaseForTests.decode(SlowCallsReport.self, from: Data(await store.slowJSON(operation: nil).utf8))
        let errorsAfter = try JSONDecoder.snakeCaseForTests.decode(ErrorsReport.self, from: Data(await store.errorsJSON(operation: nil).utf8))
        #expect(slowAfter.slowCalls.isEmpty && slowAfter.slowCount == 0 && errorsAfter.errors.isEmpty)
    }

    @Test func itemsPerSecondAndPerItemLatency_coverBatchedCalls() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 1, service: "s", operations: ["predict"])
        let records = (0..<10).map { _ in EventRecord(operationID: 0, startNanoseconds: 0, durationNanoseconds: 3_200_000, items: 32) }
        await store.apply(.events(1, droppedTotal: 0, records: records, bytes: 0))
        clock.advance(seconds: 5)
        let row = try await store.stats().operations.first { $0.pid == 1 }!
        #expect(row.items == 320)
        #expect(row.meanPerItemNs == 100_000)
        #expect(row.itemsPerS == 64)  // 320 items over the 5 s since the series began
    }
}

@Suite("RateLimitedLog")
struct RateLimitedLogTests {
    /// A service that keeps failing: the burst, then one line a second, and one notice per
    /// interval saying how many were skipped (issue 21, item 8).
    @Test func overTheRate_linesAreSuppressed_andOneNoticePerIntervalSaysHowMany() {
        let clock = ManualClock()
        let lines = Mutex<[String]>([])
        let log = RateLimitedLog(perSecond: 1, burst: 10, noticeInterval: 10_000_000_000, clock: clock) { _, line in lines.withLock { $0.append(line) } }
        for i in 0..<100 { log.write(.info, "line \(i)") }
        #expect(lines.withLock { $0 } == (0..<10).map { "line \($0)" })
        for second in 1...9 {  // 100 a second: one line each second, no notice before 10 s
            clock.advance(seconds: 1)
            for i in 0..<100 { log.write(.info, "line \(second).\(i)") }
        }
        #expect(lines.withLock { $0 } == (0..<10).map { "line \($0)" } + (1...9).map { "line \($0).0" })
        clock.advance(seconds: 1)
        for i in 0..<100 { log.write(.info, "line 10.\(i)") }
        let after = lines.withLock { $0 }
        #expect(after.count == 19 + 2)
        #expect(after[19] == "suppressed \(90 + 9 * 99) lines about slow calls and failures in the last 10.0s (more than 1 a second; probectl slow and probectl errors list them)",
                "\(after[19])")
        #expect(after[20] == "line 10.0")
        // The next notice comes 10 s after the first line it counts: none at 15 s (five tokens saved up,
        // five lines), one at 20 s.
        clock.advance(seconds: 5)
        for i in 0..<100 { log.write(.info, "line 15.\(i)") }
        #expect(lines.withLock { Array($0[21...]) } == (0..<5).map { "line 15.\($0)" })
        clock.advance(seconds: 5)
        log.write(.info, "line 20")
        #expect(lines.withLock { Array($0[26...]) }.first?.hasPrefix("suppressed \(99 + 95) lines about slow calls and failures in the last 10.0s") == true,
                "\(lines.withLock { $0 })")
        #expect(lines.withLock { $0.last } == "line 20")
    }

    /// The log says what the tables say: a failed call of 24 µs is not `duration 0.0ms`.
    @Test(arguments: [(24_000 as UInt64, "duration 24.0µs"), (812, "duration 812ns"), (80_100_000, "duration 80.1ms"), (1_250_000_000, "duration 1.25s")])
    func logLine_givesDurationsInAdaptiveUnits(_ ns: UInt64, _ text: String) {
        let line = entry(ns, slow: false, failed: true).logLine
        #expect(line.hasPrefix("failed call: service ranker pid 7 operation predict \(text) error Timeout"), "\(line)")
    }

    @Test func oneSuppressedLine_isOneLine() {
        let clock = ManualClock()
        let lines = Mutex<[String]>([])
        let log = RateLimitedLog(perSecond: 1, burst: 1, noticeInterval: 10_000_000_000, clock: clock) { _, line in lines.withLock { $0.append(line) } }
        log.write(.info, "first")
        log.write(.info, "second")
        clock.advance(seconds: 12)
        log.write(.info, "third")
        #expect(lines.withLock { $0 }.dropFirst().first?.hasPrefix("suppressed 1 line about slow calls and failures in the last 12.0s") == true,
                "\(lines.withLock { $0 })")
    }

    @Test func flush_reportsWhatWasSuppressed_afterTheInterval_withoutANewLine() {
        let clock = ManualClock()
        let lines = Mutex<[String]>([])
        let log = RateLimitedLog(perSecond: 10, burst: 3, clock: clock, subject: "refused connections", hint: "see status") { _, line in
            lines.withLock { $0.append(line) }
        }
        for i in 0..<10 { log.write(.warning, "refused \(i)") }
        #expect(log.pending)
        log.flush()
        #expect(lines.withLock { $0.count } == 3)  // not yet: the interval has not passed
        clock.advance(seconds: 10)
        log.flush()
        #expect(lines.withLock { $0.last } == "suppressed 7 lines about refused connections in the last 10.0s (more than 10 a second; see status)")
        #expect(!log.pending)
    }

    @Test func suppressedLines_areNeverEvaluated() {
        let clock = ManualClock()
        let log = RateLimitedLog(perSecond: 1, burst: 1, clock: clock) { _, _ in }
        var evaluated = 0
        func line() -> String { evaluated += 1; return "x" }
        for _ in 0..<50 { log.write(.info, line()) }
        #expect(evaluated == 1)
    }
}
