/// The table's rows for `InterleavedMeasure` (always) and `TrackedMemory` (with --memory).
func interleavedRows() {
    let m = InterleavedMeasure().run()
    row("floor, median of interleaved rounds (no probed)", ns(m.floor),
        "best \(ns(m.floorBest)); \(InterleavedMeasure.rounds) rounds × \(InterleavedMeasure.iterations) calls")
    row("measure, operation handle, median of rounds", ns(m.plain), ratio(m.plain, m.floor) + ", best " + ns(m.plainBest))
    row("measure, name string, median of rounds", ns(m.byName), ratio(m.byName, m.floor))
    row("measure(items:attributes:) under threshold, median", ns(m.attributes),
        ratio(m.attributes, m.floor) + ", best " + ns(m.attributesBest) + "; attributes evaluated \(m.evaluations) times")
    row("heap allocations per measure, max over rounds", format3(m.allocations), "budget 0")
}

func trackedMemoryRows() {
    let t = TrackedMemory().run()
    row("floor: 2× pread of /proc/self/statm, median of rounds", ns(t.floor),
        "best \(ns(t.floorBest)); \(TrackedMemory.rounds) rounds × \(TrackedMemory.iterations) calls, no probed")
    row("measure(trackMemory: true), median of rounds", ns(t.tracked),
        "median of ratios \(format3(t.ratio))×, best/best \(format3(t.bestRatio))× (budget ≤ 1.2×)")
    row("measure without memory, median of rounds", ns(t.plain))
    row("heap allocations per tracked measure, max over rounds", format3(t.allocations), "budget 0")
}
