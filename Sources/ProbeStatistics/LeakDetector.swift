/// Decides whether a process's recent resident memory looks like a leak: growth that is fast,
/// consistent and spread over the whole window, not a one-time rise.
///
/// A process is suspected when, over the last `window` (or what history there is, at least
/// `minimumSpanSeconds` and `minimumSamples`): the Theil–Sen slope is at least the threshold;
/// Kendall's tau is at least `minimumTau` (most pairs of samples rise); the implied rise is at
/// least the threshold's worth of one minute and 1 MiB; and the median level rises from each
/// third of the window to the next by at least a quarter of what the slope predicts. The last
/// rule is what rejects a single step (load 64 MiB once, then hold): a step can raise only one of
/// the two gaps between thirds, never both.
package struct LeakDetector: Sendable, Equatable {
    package var thresholdBytesPerMinute: Double
    package var windowSeconds: Double
    package var minimumSpanSeconds: Double = 20
    package var minimumSamples = 10
    package var minimumTau = 0.6

    package init(thresholdBytesPerMinute: Double = 1_048_576, windowSeconds: Double = 300) {
        self.thresholdBytesPerMinute = thresholdBytesPerMinute
        self.windowSeconds = windowSeconds
    }

    /// What the detector concluded, with the trend it fitted (nil while there is too little history).
    package struct Assessment: Sendable, Equatable {
        package var trend: MemoryTrend?
        package var suspected: Bool
        /// One word: `insufficient_data`, `leak`, `growing` (fast but not steady or not spread
        /// out, e.g. a one-time rise or sawtooth), `shrinking` or `flat`.
        package var verdict: String
    }

    /// Judges the samples (time-ordered) whose time is within the window ending at the last one.
    package func assess(_ history: [MemorySample]) -> Assessment {
        guard let last = history.last else { return Assessment(trend: nil, suspected: false, verdict: "insufficient_data") }
        let start = last.time &- min(last.time, UInt64(saturating: windowSeconds * 1e9))
        let recent = history.filter { $0.time >= start }
        guard recent.count >= minimumSamples, let trend = MemoryTrend.fit(recent), trend.spanSeconds >= minimumSpanSeconds else {
            return Assessment(trend: nil, suspected: false, verdict: "insufficient_data")
        }
        let slope = trend.slopeBytesPerMinute
        let fast = slope >= thresholdBytesPerMinute
        let steady = trend.tau >= minimumTau
        let meaningful = trend.riseBytes >= max(thresholdBytesPerMinute, 1_048_576)
        let expectedGap = 0.25 * slope * trend.spanSeconds / 3 / 60
        let t = trend.thirds
        let spread = t.count == 3 && t[1] - t[0] >= expectedGap && t[2] - t[1] >= expectedGap && expectedGap > 0
        if fast && steady && meaningful && spread {
            return Assessment(trend: trend, suspected: true, verdict: "leak")
        }
        if fast { return Assessment(trend: trend, suspected: false, verdict: "growing") }
        if slope <= -thresholdBytesPerMinute { return Assessment(trend: trend, suspected: false, verdict: "shrinking") }
        return Assessment(trend: trend, suspected: false, verdict: "flat")
    }
}
