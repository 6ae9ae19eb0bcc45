import ProbeTestKit
import Testing
@testable import ProbeStatistics

/// Issue 16: error-type tables and warm-up filters folded into a retired aggregate, and kept in a
/// state file (their parts) and read back.
@Suite struct FoldPartsTests {
    static func table(_ failures: [(String, Int)]) -> ErrorTypeTable {
        var t = ErrorTypeTable()
        for (name, n) in failures { for _ in 0..<n { _ = t.record(name) } }
        return t
    }

    @Test func tablesWithSixteenTypesAmongThem_foldToExactlyTheirSum() {
        var aggregate = ErrorTypeTable()
        var expected: [String: UInt64] = [:]
        for p in 0..<5 {
            // Each process: a shared type, and two of twelve others.
            let failures = [("Timeout", 3 + p), ("Shape.\(p % 6)", 2), ("BadInput.\(p % 6)", p + 1)]
            for (name, n) in failures { expected[name, default: 0] += UInt64(n) }
            let (map, reassigned) = aggregate.absorb(Self.table(failures))
            #expect(reassigned.isEmpty)
            #expect(map.count == ErrorTypeTable.capacity + 1 && map[ErrorTypeTable.capacity] == ErrorTypeTable.otherSlot)
            for (t, name) in Self.table(failures).names.enumerated() { #expect(aggregate.names[Int(map[t])] == name) }
        }
        #expect(aggregate.lifetime.dictionary == expected)
        #expect(aggregate.other == 0)
    }

    @Test func tablesWithMoreTypes_foldWithExactTotals_theFrequentTypeExact_noCountUnderAnotherName() {
        var aggregate = ErrorTypeTable()
        var sent: [String: UInt64] = [:]
        var total: UInt64 = 0
        for p in 0..<40 {
            // One type in four failures is the real problem; each process adds names of its own,
            // and one folded table already has an `other`.
            var failures = [("torch.OutOfMemoryError", 40)]
            for k in 0..<(p % 3 == 0 ? 20 : 6) { failures.append(("NotFound.\(p).\(k)", 1 + k % 4)) }
            var t = Self.table(failures)
            if p == 7 { _ = t.record("late", count: 5) }
            for (name, n) in failures { sent[name, default: 0] += UInt64(n) }
            if p == 7 { sent["late", default: 0] += 5 }
            total += t.counts.reduce(0, +) + t.other
            let (map, _) = aggregate.absorb(t)
            // Every slot of `t` now counts where its type is, or in other.
            for (slot, name) in t.names.enumerated() where map[slot] != ErrorTypeTable.otherSlot {
                #expect(aggregate.names[Int(map[slot])] == name)
            }
        }
        let lifetime = aggregate.lifetime
        #expect(lifetime.named.values.reduce(0, +) + lifetime.other == total)
        #expect(lifetime.named["torch.OutOfMemoryError"] == 1_600)
        for (name, count) in lifetime.named { #expect(count <= sent[name] ?? 0, "\(name)") }
        #expect(aggregate.names.count == ErrorTypeTable.capacity)
    }

    @Test func tableParts_readBack_andBadPartsAreRefused() throws {
        var t = Self.table((0..<30).map { ("T\($0)", 1 + $0 % 5) })
        _ = t.record("big", count: 100)
        let back = try #require(ErrorTypeTable(parts: t.parts))
        #expect(back.parts == t.parts && back.lifetime == t.lifetime)
        // It goes on as the original would.
        var (a, b) = (t, back)
        for name in ["T3", "new", "big", "another", "T29"] { #expect(a.record(name) == b.record(name)) }
        #expect(a.parts == b.parts)
        let p = t.parts
        for bad in [
            ErrorTypeTable.Parts(names: p.names + ["x"], counts: p.counts + [1], weights: p.weights + [1], other: 0),  // 17 names
            ErrorTypeTable.Parts(names: ["a", "a"], counts: [1, 1], weights: [1, 1], other: 0),
            ErrorTypeTable.Parts(names: ["a"], counts: [0], weights: [0], other: 0),
            ErrorTypeTable.Parts(names: ["a"], counts: [5], weights: [4], other: 0),
            ErrorTypeTable.Parts(names: ["a"], counts: [5], weights: [], other: 0),
        ] {
            #expect(ErrorTypeTable(parts: bad) == nil)
        }
    }

    /// Offers `calls` to `f`; the verdicts, as the starts warm-up and the starts measured.
    static func offer(_ f: inout WarmupFilter, _ calls: [WarmupFilter.Call]) -> [String] {
        calls.map { c in
            guard f.mayAdmit(c.start) else { return "measured \(c.start)" }
            switch f.offer(c) {
            case .measured: return "measured \(c.start)"
            case .warmup: return "warmup \(c.start)"
            case .warmupReplacing(let left): return "warmup \(c.start) replacing \(left.start)"
            }
        }
    }

    static func calls(_ r: inout SeededRandom, _ n: Int, from arrival: UInt64, items: UInt64 = 4) -> [WarmupFilter.Call] {
        (0..<n).map { i in
            WarmupFilter.Call(start: 1_000 + r.next() % 10_000, duration: r.next() % 1_000_000, arrival: arrival + UInt64(i),
                              items: UInt32(1 + r.next() % items), failed: r.next() % 7 == 0)
        }
    }

    @Test func warmupParts_readBack_decideEveryLaterCallAsTheOriginalWould() throws {
        for perItems in [false, true] {
            for (limit, first) in [(10, 4), (10, 40), (3, 200), (0, 5)] {
                var r = SeededRandom(seed: UInt64(limit * 1_000 + first))
                var original = WarmupFilter(limit: limit)
                original.perItems = perItems
                _ = Self.offer(&original, Self.calls(&r, first, from: 0))
                var restored = try #require(WarmupFilter(parts: original.parts, limit: limit))
                #expect(restored.perItems == perItems)
                let later = Self.calls(&r, 300, from: UInt64(first))
                #expect(Self.offer(&restored, later) == Self.offer(&original, later), "perItems \(perItems), limit \(limit), after \(first)")
                #expect(restored.untrackedCalls == original.untrackedCalls)
            }
        }
    }

    @Test func warmupParts_underAnotherLimit_aFullSetStaysFull_andKeepsItsEarliestCalls() throws {
        var r = SeededRandom(seed: 3)
        var original = WarmupFilter(limit: 10)
        _ = Self.offer(&original, Self.calls(&r, 50, from: 0))
        // More warm-up asked after the restart: the series' warm-up was over, and stays over.
        var larger = try #require(WarmupFilter(parts: original.parts, limit: 20))
        let later = (0..<5).map { WarmupFilter.Call(start: 1_000_000 + UInt64($0), duration: 1, arrival: 100 + UInt64($0), items: 1, failed: false) }
        #expect(Self.offer(&larger, later) == later.map { "measured \($0.start)" })
        // Less: the earliest-started 4 stay warm-up; an earlier start still displaces the latest of them.
        let smaller = try #require(WarmupFilter(parts: original.parts, limit: 4))
        let earliest = original.parts.whole.calls.map(\.start).sorted().prefix(4)
        #expect(smaller.parts.whole.calls.map(\.start).sorted() == Array(earliest))
        var s = smaller
        let early = WarmupFilter.Call(start: 0, duration: 1, arrival: 200, items: 1, failed: false)
        #expect(Self.offer(&s, [early]) == ["warmup 0 replacing \(earliest.last!)"])
        // A set of another items value, or one value twice, is refused.
        var p = original.parts
        p.byItems = [(2, WarmupFilter.CallsParts(calls: [early], full: false))]
        #expect(WarmupFilter(parts: p, limit: 10) == nil)
        p.byItems = [(1, .init(calls: [], full: false)), (1, .init(calls: [], full: true))]
        #expect(WarmupFilter(parts: p, limit: 10) == nil)
    }
}
