import Testing
@testable import ProbeStatistics

/// Issue 22: one series used to keep every error type it was ever sent (163,800 after 40
/// reconnects of a hostile client, 52 MB). Now it keeps `ErrorTypeTable.capacity` by name.
@Suite struct ErrorTypesTests {
    @Test func aFloodOfNewNames_keepsAtMostCapacity_theFrequentType_andExactTotals() {
        var table = ErrorTypeTable()
        var total: UInt64 = 0
        for i in 0..<100_000 {
            // One failure in five is the real problem; the rest are names never seen twice.
            _ = table.record(i % 5 == 0 ? "torch.OutOfMemoryError" : "NotFound(id=\(i))")
            total += 1
        }
        #expect(table.names.count == ErrorTypeTable.capacity)
        let counts = table.lifetime
        #expect(counts.named["torch.OutOfMemoryError"] == 20_000)  // never lost its slot: exact
        #expect(counts.named.values.reduce(0, +) + counts.other == total)
        #expect(counts.dictionary.count == ErrorTypeTable.capacity + 1)
        #expect(counts.dictionary["other"] == counts.other)
    }

    @Test func fewTypes_areAllKept_withoutOther() {
        var table = ErrorTypeTable()
        for name in ["A", "B", "A", "C", "A"] { _ = table.record(name) }
        #expect(table.lifetime.dictionary == ["A": 3, "B": 1, "C": 1])
        #expect(table.other == 0)
    }

    @Test func aTypeThatBecomesFrequentLate_takesASlot() {
        var table = ErrorTypeTable()
        for i in 0..<ErrorTypeTable.capacity { _ = table.record("early-\(i)") }
        for _ in 0..<50 { _ = table.record("late") }
        #expect(table.names.contains("late"))
        #expect(table.lifetime.named["late"] == 50)
        #expect(table.other == 1)  // the early type whose slot it took
    }

    @Test func merge_keepsTheMostFrequent_andFoldsTheRestIntoOther() {
        var a = ErrorTypeCounts(limit: 3)
        a.add("x", 10)
        a.add("y", 5)
        var b = ErrorTypeCounts(limit: 3)
        b.add("z", 7)
        b.add("w", 1)
        b.addOther(4)
        a.merge(b)
        #expect(a.named == ["x": 10, "z": 7, "y": 5])
        #expect(a.other == 5)  // w's 1 and b's other 4
        #expect(a.dictionary.values.reduce(0, +) == 27)
        // Associative enough for a fold over processes: no name is ever lost from the total.
        var c = ErrorTypeCounts(limit: 3)
        for (name, n) in [("a", UInt64(1)), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] { c.add(name, n) }
        #expect(c.named == ["e": 5, "d": 4, "c": 3] && c.other == 3)
    }

    /// A slot passing to another type: what the windows counted for the old one reads as `other`.
    @Test func reassignedSlot_windowsCountTheOldTypesFailuresAsOther() {
        let second: UInt64 = 1_000_000_000
        var w = SeriesWindows(now: 100 * second)
        var totals = SeriesWindows.Totals()
        func fail(_ slot: UInt32, at s: UInt64) {
            w.advance(to: s * second, totals: totals)
            totals.calls += 1
            totals.errors += 1
            if w.openErrorTypes.count <= Int(slot) { w.openErrorTypes += Array(repeating: 0, count: Int(slot) + 1 - w.openErrorTypes.count) }
            w.openErrorTypes[Int(slot)] += 1
        }
        fail(0, at: 100)
        fail(0, at: 101)
        fail(0, at: 102)  // open second 102 holds one failure of the old type
        w.reassignErrorType(0)
        fail(0, at: 102)  // the new type's first, same second
        fail(0, at: 103)
        w.advance(to: 104 * second, totals: totals)
        let f = w.figures(seconds: 60, totals: totals, latency: false)
        let other = Int(ErrorTypeTable.otherSlot)
        #expect(f.errors == 5)
        #expect(f.errorTypes[0] == 2)  // second 102's new failure and 103's
        #expect(f.errorTypes[other] == 3)  // 100, 101 and the old one of 102
    }
}
