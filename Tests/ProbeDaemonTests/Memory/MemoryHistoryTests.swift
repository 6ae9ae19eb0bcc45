import ProbeStatistics
import Testing
@testable import ProbeDaemon

@Suite struct MemoryHistoryTests {
    @Test func ringBuffer_keepsTheLastCapacitySamplesInOrder() {
        var h = MemoryHistory(capacity: 4)
        for i in 0..<10 as Range<UInt64> { h.append(MemorySample(time: i, bytes: i * 10)) }
        #expect(h.count == 4 && h.last?.time == 9)
        #expect(h.since(0).map(\.time) == [6, 7, 8, 9])
        #expect(h.since(8).map(\.bytes) == [80, 90])
    }

    @Test func capacity_spansFifteenMinutesAtAnyInterval() {
        var o = MemoryOptions()
        #expect(o.historyCapacity == 901)
        o.sampleInterval = 200_000_000
        #expect(o.historyCapacity == 4501)
        o.sampleInterval = 7_000_000_000
        #expect(UInt64(o.historyCapacity - 1) * o.sampleInterval >= o.history)
    }
}
