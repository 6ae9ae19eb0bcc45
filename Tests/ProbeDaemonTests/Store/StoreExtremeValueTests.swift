import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Testing
@testable import ProbeDaemon

/// Issue 17 item 1 and issue 22 item 8: the figures peers control at their limits, through the
/// store and every report. Each report must be JSON a parser accepts, with the right values.
@Suite struct StoreExtremeValueTests {
    /// −1,024 ns cast to unsigned, what a buggy caller sends.
    static let wrapped: UInt64 = 18_446_744_073_709_550_592

    static func parses(_ text: String) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil
    }

    @Test func tenCallsOfOneMillisecond_thenOneOfMinus1024Cast_giveExactFiguresInEveryReport() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 10), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        await store.record(1, durations: Array(repeating: 1_000_000, count: 10))
        await store.record(1, durations: [StoreExtremeValueTests.wrapped], dropped: .max)
        let detail = CallDetail(
            operationID: 0, flags: [.slow], startNanoseconds: .max, startWallNanoseconds: .max,
            durationNanoseconds: StoreExtremeValueTests.wrapped, items: .max, errorTypeID: 0)
        await store.apply(.callDetail(1, detail, operation: "predict", errorType: nil, bytes: 51))
        // A second process of the same service reporting the largest drop count too.
        await store.connect(2, pid: 200, service: "svc", operations: ["predict"])
        await store.record(2, durations: Array(repeating: 1_000_000, count: 10) + [UInt64.max, .max], dropped: .max)
        await store.apply(.memoryDeltas(1, droppedTotal: .max, records: [
            MemoryDeltaRecord(operationID: 0, deltaBytes: .max), MemoryDeltaRecord(operationID: 0, deltaBytes: .max),
        ], bytes: 56))
        clock.advance(seconds: 1.5)
        for window in StatsWindow.allCases {
            let text = await store.statsJSON(window: window)
            #expect(StoreExtremeValueTests.parses(text), "stats \(window.rawValue) is not JSON: \(text)")
        }
        let rows = try await store.stats().operations
        let one = try #require(rows.first { $0.pid == 100 })
        #expect(one.calls == 11 && one.warmup == 10 && one.counted == 1)
        #expect(one.minNs == StoreExtremeValueTests.wrapped && one.meanNs == StoreExtremeValueTests.wrapped)
        #expect(one.maxNs == StoreExtremeValueTests.wrapped && one.p999Ns == StoreExtremeValueTests.wrapped)
        #expect(one.meanPerItemNs == StoreExtremeValueTests.wrapped)
        #expect(one.memDeltaMeanBytes == .max && one.memDeltaTotalBytes == 18_446_744_073_709_551_614)
        let merged = try #require(rows.first { $0.pid == nil })
        #expect(merged.counted == 3 && merged.maxNs == .max && merged.minNs == StoreExtremeValueTests.wrapped)
        let exactMean = (UInt128(StoreExtremeValueTests.wrapped) + 2 * UInt128(UInt64.max) + 1) / 3
        #expect(merged.meanNs == UInt64(exactMean))
        let status = await store.statusJSON(pid: 1)
        #expect(StoreExtremeValueTests.parses(status))
        #expect(try await store.status().droppedEvents == .max)  // saturated, not 2^64 − 2
        for text in [await store.procsJSON(), await store.gpuJSON(), await store.slowJSON(operation: nil),
                     await store.errorsJSON(operation: nil)] {
            #expect(StoreExtremeValueTests.parses(text), "not JSON: \(text)")
        }
        let metrics = PrometheusExposition.render(await store.metricsSnapshot())
        #expect(metrics.contains("probed_client_dropped_events_total 18446744073709551615\n"))
        #expect(metrics.contains("probe_call_duration_seconds_count{service=\"svc\",operation=\"predict\"} 3\n"))
        let entry = CallEntry(sequence: 1, service: "svc", pid: 100, operation: "predict", detail: detail, errorType: nil)
        #expect(entry.logLine.contains("duration 307445734m33s items 4294967295"), "\(entry.logLine)")
    }
}
