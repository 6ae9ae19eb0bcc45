import ProbeTestKit
import Testing
@testable import ProbeStatistics

/// Issue 17 items 7 and 8: warm-up is the first N calls by start time, whatever the arrival order,
/// and per items value when asked.
@Suite struct WarmupFilterTests {
    /// Offers the calls in `order` (indices into `starts`); returns the warm-up calls' starts and
    /// every start measured, each time it was measured.
    static func run(_ starts: [UInt64], order: [Int], limit: Int, items: (Int) -> UInt32 = { _ in 1 }, perItems: Bool = false)
        -> (warmup: Set<UInt64>, measured: [UInt64], filter: WarmupFilter) {
        var f = WarmupFilter(limit: limit)
        f.perItems = perItems
        var warm = Set<UInt64>(), measured: [UInt64] = []
        for (arrival, i) in order.enumerated() {
            let call = WarmupFilter.Call(start: starts[i], duration: starts[i] * 10, arrival: UInt64(arrival), items: items(i), failed: false)
            if !f.mayAdmit(call.start) && !perItems {
                measured.append(call.start)
                continue
            }
            switch f.offer(call) {
            case .measured: measured.append(call.start)
            case .warmup: warm.insert(call.start)
            case .warmupReplacing(let left):
                warm.remove(left.start)
                warm.insert(call.start)
                #expect(left.duration == left.start * 10 && left.items == items(Int(left.start)))
                measured.append(left.start)
            }
        }
        return (warm, measured, f)
    }

    @Test func anyArrivalOrder_keepsExactlyTheFirstNByStart_andMeasuresEveryOtherCallOnce() {
        let starts = (0..<200).map { UInt64($0) }
        var r = SeededRandom(seed: 17)
        for round in 0..<50 {
            var order = Array(0..<200)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(r.next() % UInt64(i + 1))) }
            let limit = round % 12
            let (warm, measured, _) = WarmupFilterTests.run(starts, order: order, limit: limit)
            #expect(warm == Set(starts.prefix(limit)), "round \(round)")
            #expect(measured.sorted() == Array(starts.dropFirst(limit)), "round \(round): each call past warm-up measured once")
        }
    }

    @Test func oneThreadAlternatingTwoCPUs_whoseShardsArriveOneAfterTheOther_keepsItsFirstTenCalls() {
        // The client ships one CPU's buffer at a time: calls 0, 2, 4, … arrive before 1, 3, 5, ….
        let starts = (0..<40).map { UInt64(1_000 + $0) }
        let order = Array(stride(from: 0, to: 40, by: 2)) + Array(stride(from: 1, to: 40, by: 2))
        let (warm, measured, _) = WarmupFilterTests.run(starts, order: order, limit: 10)
        #expect(warm == Set(starts.prefix(10)))
        #expect(measured.sorted() == Array(starts.dropFirst(10)))
    }

    @Test func equalStarts_keepTheCallsThatArrivedFirst() {
        var f = WarmupFilter(limit: 2)
        for arrival in 0..<5 as Range<UInt64> {
            let verdict = f.offer(.init(start: 7, duration: arrival, arrival: arrival, items: 1, failed: false))
            if arrival < 2 { guard case .warmup = verdict else { Issue.record("call \(arrival) not warm-up"); return } }
            else { guard case .measured = verdict else { Issue.record("call \(arrival) not measured"); return } }
        }
        // An earlier start displaces the later-arrived of the two tied warm-up calls.
        guard case .warmupReplacing(let left) = f.offer(.init(start: 3, duration: 99, arrival: 5, items: 1, failed: false)) else {
            Issue.record("no displacement"); return
        }
        #expect(left.arrival == 1 && left.duration == 1)
    }

    @Test func noWarmup_measuresEverything_withoutLookingAtTheCall() {
        let f = WarmupFilter(limit: 0)
        #expect(!f.mayAdmit(0) && !f.mayAdmit(.max))
        var full = WarmupFilter(limit: 1)
        _ = full.offer(.init(start: .max, duration: 1, arrival: 0, items: 1, failed: false))
        #expect(full.mayAdmit(.max - 1) && !full.mayAdmit(.max))
    }

    @Test func perItems_keepsTheFirstNOfEachBatchSize_byStart() {
        // Two workers × five batch sizes, arriving shard by shard: each size's first 3 calls.
        let sizes: [UInt32] = [1, 4, 8, 16, 32]
        let starts = (0..<100).map { UInt64($0) }
        let order = Array(stride(from: 0, to: 100, by: 2)) + Array(stride(from: 1, to: 100, by: 2))
        let (warm, measured, f) = WarmupFilterTests.run(starts, order: order, limit: 3, items: { sizes[$0 % 5] }, perItems: true)
        var want = Set<UInt64>()
        for size in sizes { want.formUnion(starts.filter { sizes[Int($0) % 5] == size }.prefix(3)) }
        #expect(warm == want && warm.count == 15)
        #expect(measured.count == 85 && Set(measured).count == 85 && Set(measured).isDisjoint(with: want))
        #expect(f.byItems.count == 5 && f.untrackedCalls == 0)
    }

    @Test func perItems_pastTheCapOfDistinctValues_measuresTheRest_andCountsThem() {
        let n = WarmupFilter.maxItemsValues + 10
        let starts = (0..<(n * 2)).map { UInt64($0) }
        let (warm, measured, f) = WarmupFilterTests.run(starts, order: Array(starts.indices), limit: 1,
                                                        items: { UInt32($0 % n) + 1 }, perItems: true)
        #expect(warm.count == WarmupFilter.maxItemsValues && f.byItems.count == WarmupFilter.maxItemsValues)
        #expect(f.untrackedCalls == 20 && measured.count == n * 2 - WarmupFilter.maxItemsValues)
    }
}
