// libFuzzer entry for the state-file loader: probed reads DIR/state at start, and whatever it
// holds (damaged by a crash, a disk, a hand, another version) must give a state or a clear
// refusal, never a trap. Built by Tools/fuzz.sh with the loader's sources (Sources/ProbeDaemon/State/
// and what it decodes into) and ProbeStatistics and ProbeWire, as one module.
// A fuzzer cannot forge a CRC-32C, so each input is tried twice: as a whole file (the header's
// checks), and as a body behind a valid header (every decoder check). What decodes is then read
// the way probed reads it — every window's figures and quantiles, items, memory means and trends,
// the windows aged, folded and shifted — and must encode and decode again.

@_cdecl("LLVMFuzzerTestOneInput")
public func stateFileFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? StateFile.decode(bytes) { exercise(image) }
    guard let image = try? StateFile.decode(StateFile.file(body: bytes)) else { return 0 }
    exercise(image)
    exercise(image.shifted(bySeconds: -7200))
    exercise(image.shifted(bySeconds: 600))
    guard let again = try? StateFile.decode(StateFile.encode(image)) else { fatalError("a decoded state does not decode again once encoded") }
    precondition(again.series.count == image.series.count && again.connections.count == image.connections.count)
    return 0
}

func exercise(_ image: StateImage) {
    let now = image.clockNow
    let quantiles = [0.5, 0.9, 0.99, 0.999]
    for s in image.series {
        let totals = SeriesWindows.Totals(calls: s.calls, errors: s.errors, warmup: s.warmup)
        var windows = s.windows
        for later in [UInt64(0), 5_000_000_000, 70_000_000_000, 1_000_000_000_000] {
            windows.advance(to: now &+ later, totals: totals)
            for seconds: UInt64 in [10, 60, 300, 900] {
                let f = windows.figures(seconds: seconds, totals: totals, latency: true)
                _ = f.latency.quantiles(quantiles)
                _ = f.latency.mean
                precondition(f.errorTypes.count <= Int(ErrorTypeTable.otherSlot) + 1)
            }
            let lifetime = windows.lifetimeLatency
            _ = lifetime.quantiles(quantiles)
            _ = lifetime.mean
            _ = lifetime.buckets()
        }
        // Fold the series into a copy of itself, as retirement folds processes into an aggregate.
        var table = s.errorTypes
        var folded = s.windows
        let (typeMap, reassigned) = table.absorb(s.errorTypes)
        for slot in reassigned { folded.reassignErrorType(slot) }
        folded.absorb(s.windows, typeMap: typeMap)
        let f = folded.figures(seconds: 900, totals: totals, latency: true)
        _ = f.latency.quantiles(quantiles)
        let lifetime = table.lifetime
        precondition(lifetime.named.values.reduce(0, &+) &+ lifetime.other
                     == s.errorTypes.lifetime.named.values.reduce(0, &+) &* 2 &+ s.errorTypes.lifetime.other &* 2)
        // The warm-up calls under several --warmup settings, offered more calls.
        for limit in [0, 1, 10, 100] {
            guard var warm = WarmupFilter(parts: s.warmupCalls, limit: limit) else { fatalError("warm-up parts the decoder accepted are refused") }
            for i in 0..<20 {
                _ = warm.offer(WarmupFilter.Call(start: UInt64(i) &* 977, duration: 5, arrival: s.calls &+ UInt64(i), items: UInt32(i % 3), failed: false))
            }
        }
        var items = s.items
        items.absorb(s.items)
        _ = items.recent(seconds: 60, nowSecond: now / 1_000_000_000)
        _ = items.meanPerItemNanoseconds
        _ = s.memory.meanBytes
    }
    let detector = LeakDetector()
    for c in image.connections {
        if let m = c.memory { _ = detector.assess(m.samples) }
        if let g = c.gpu { _ = detector.assess(g.samples) }
    }
    for log in image.callLogs {
        _ = log.entries.reduce(0) { $0 + $1.footprintBytes }
    }
}
