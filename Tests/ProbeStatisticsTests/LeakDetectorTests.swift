import Testing
@testable import ProbeStatistics

/// Synthetic resident-memory series: `value(t)` sampled every `every` seconds for `seconds`.
func series(seconds: Double, every: Double = 1, _ value: (Double) -> Double) -> [MemorySample] {
    stride(from: 0.0, through: seconds, by: every).map {
        MemorySample(time: 1_000_000_000_000 + UInt64($0 * 1e9), bytes: UInt64(max(0, value($0))))
    }
}

/// A seeded uniform generator in [-1, 1), so noisy series are the same on every run.
struct Noise {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 52) - 1
    }
}

let MiB = 1_048_576.0

@Suite struct LeakDetectorTests {
    let detector = LeakDetector(thresholdBytesPerMinute: MiB, windowSeconds: 300)

    @Test func steadyGrowth_isALeak_withTheRightSlopeAndAHighFit() throws {
        var noise = Noise(state: 1)
        let samples = series(seconds: 300) { 400 * MiB + 2 * MiB * $0 / 60 + 64 * 1024 * noise.next() }
        let a = detector.assess(samples)
        let trend = try #require(a.trend)
        #expect(a.suspected && a.verdict == "leak")
        #expect(abs(trend.slopeBytesPerMinute - 2 * MiB) < 0.05 * 2 * MiB, "\(trend.slopeBytesPerMinute / MiB) MiB/min")
        #expect(trend.tau > 0.8)
    }

    @Test func flat_evenWhenLarge_isNotALeak() throws {
        var noise = Noise(state: 2)
        let a = detector.assess(series(seconds: 300) { _ in 6_000 * MiB + 256 * 1024 * noise.next() })
        let trend = try #require(a.trend)
        #expect(!a.suspected && a.verdict == "flat")
        #expect(abs(trend.slopeBytesPerMinute) < 0.1 * MiB && abs(trend.tau) < 0.3)
    }

    @Test(arguments: [2.0, 50, 100, 150, 200, 250, 290])
    func oneStep_anywhereInTheWindow_isNotALeak(at step: Double) {
        var noise = Noise(state: 3)
        let a = detector.assess(series(seconds: 300) { 200 * MiB + ($0 >= step ? 64 * MiB : 0) + 32 * 1024 * noise.next() })
        #expect(!a.suspected, "step at \(step) s: \(a.verdict), \(String(describing: a.trend))")
    }

    @Test func oneStep_seenFromItsFirstSecondsOn_isNeverALeak() {
        // The integration test's "allocate 64 MiB once" process as the sampler sees it: 200 ms samples,
        // the step 1 s in; every prefix of the history is judged, as the daemon does each second.
        let samples = series(seconds: 120, every: 0.2) { 12 * MiB + ($0 >= 1 ? 64 * MiB : 0) }
        for end in 10...samples.count {
            let a = detector.assess(Array(samples[0..<end]))
            #expect(!a.suspected, "after \(Double(end) * 0.2) s: \(String(describing: a.trend))")
        }
    }

    @Test func sawtoothWithGrowth_isALeak_andTheSlopeFollowsTheGrowthNotTheTeeth() throws {
        // An allocator's sawtooth: 8 MiB rise over 20 s, then released; underneath, 5 MiB/min kept.
        let samples = series(seconds: 300) { 300 * MiB + 8 * MiB * $0.truncatingRemainder(dividingBy: 20) / 20 + 5 * MiB * $0 / 60 }
        let a = detector.assess(samples)
        let trend = try #require(a.trend)
        #expect(a.suspected, "\(a.verdict): \(trend)")
        #expect(abs(trend.slopeBytesPerMinute - 5 * MiB) < 0.3 * 5 * MiB, "\(trend.slopeBytesPerMinute / MiB) MiB/min")
    }

    @Test func sawtoothWithoutGrowth_isNotALeak() throws {
        let samples = series(seconds: 300) { 300 * MiB + 8 * MiB * $0.truncatingRemainder(dividingBy: 20) / 20 }
        let a = detector.assess(samples)
        #expect(!a.suspected, "\(a.verdict): \(String(describing: a.trend))")
        #expect(abs(try #require(a.trend).tau) < 0.3)
    }

    @Test func heavyNoiseAroundAFlatLine_isNotALeak() {
        for seed in 1...20 as ClosedRange<UInt64> {
            var noise = Noise(state: seed)
            let a = detector.assess(series(seconds: 300) { _ in 500 * MiB + 16 * MiB * noise.next() })
            #expect(!a.suspected, "seed \(seed): \(String(describing: a.trend))")
        }
    }

    @Test func oneHugeSpike_barelyMovesTheSlope() throws {
        var noise = Noise(state: 4)
        let steady = series(seconds: 300) { 400 * MiB + 2 * MiB * $0 / 60 + 64 * 1024 * noise.next() }
        var spiked = steady
        spiked[150].bytes += UInt64(2_000 * MiB)
        let a = try #require(detector.assess(steady).trend), b = try #require(detector.assess(spiked).trend)
        #expect(abs(a.slopeBytesPerMinute - b.slopeBytesPerMinute) < 0.02 * a.slopeBytesPerMinute)
        #expect(detector.assess(spiked).suspected)
    }

    @Test func slowGrowthUnderTheThreshold_isNotALeak_andShrinkingIsNamed() {
        let slow = detector.assess(series(seconds: 300) { 400 * MiB + 0.5 * MiB * $0 / 60 })
        #expect(!slow.suspected && slow.verdict == "flat")
        let shrinking = detector.assess(series(seconds: 300) { 900 * MiB - 3 * MiB * $0 / 60 })
        #expect(!shrinking.suspected && shrinking.verdict == "shrinking")
    }

    @Test func tooLittleHistory_givesNoTrend() {
        #expect(detector.assess([]).verdict == "insufficient_data")
        #expect(detector.assess(series(seconds: 5) { 8 * MiB * $0 }).trend == nil)  // 6 samples
        #expect(detector.assess(series(seconds: 15, every: 0.2) { 8 * MiB * $0 }).trend == nil)  // 15 s < 20 s
    }

    @Test func fastLeak_isFlaggedOnceTwentySecondsOfSamplesExist() {
        // 4 MiB every 0.5 s, sampled every 200 ms, as in the end-to-end test.
        let samples = series(seconds: 60, every: 0.2) { 20 * MiB + 4 * MiB * ($0 / 0.5).rounded(.down) }
        let first = (10...samples.count).first { detector.assess(Array(samples[0..<$0])).suspected }
        #expect(first.map { Double($0 - 1) * 0.2 } == 20)
    }

    @Test func theWindow_forgetsAnOldLeakOnceMemoryIsFlat() {
        // Leaked for 5 minutes, then flat for 5: the last five minutes are flat.
        let samples = series(seconds: 600) { 100 * MiB + 4 * MiB * min($0, 300) / 60 }
        #expect(detector.assess(Array(samples.prefix(300))).suspected)
        #expect(!detector.assess(samples).suspected)
    }

    @Test func thinning_boundsTheFitToAFixedNumberOfPoints() throws {
        let samples = series(seconds: 900, every: 0.1) { 100 * MiB + MiB * $0 / 60 }
        let trend = try #require(MemoryTrend.fit(samples))
        #expect(trend.samples == samples.count)
        #expect(abs(trend.slopeBytesPerMinute - MiB) < 0.01 * MiB && trend.tau > 0.99)
    }
}
