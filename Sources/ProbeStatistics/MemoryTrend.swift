/// A robust straight-line trend through a memory series: the Theil–Sen slope (the median of the
/// slopes between every pair of points), Kendall's tau as its fit, and the median level of each
/// third of the span.
///
/// One big spike or a single outlier moves a Theil–Sen slope very little, where least squares
/// would follow it. Caveats: a long series is first thinned to at most `maxPoints` points, each
/// the median of a run of consecutive samples (which also smooths short allocator sawtooth), so
/// the cost is bounded (at most 7,140 pairs); a single step in the middle of the span can still
/// give a large slope and tau — `LeakDetector` rejects it with the thirds' levels.
package struct MemoryTrend: Sendable, Equatable {
    /// Theil–Sen slope, bytes per minute.
    package var slopeBytesPerMinute: Double
    /// Kendall's tau-a over the (thinned) points, −1…1: the fraction of pairs that rise minus the
    /// fraction that fall. 1 means every later point is higher; ties (flat memory) count as neither.
    package var tau: Double
    /// Seconds from the first sample to the last.
    package var spanSeconds: Double
    /// Samples fitted (before thinning).
    package var samples: Int
    /// Median resident bytes in the first, middle and last third of the span.
    package var thirds: [Double]

    /// The rise the slope implies over the span, in bytes.
    package var riseBytes: Double { slopeBytesPerMinute * spanSeconds / 60 }

    package static let maxPoints = 120

    /// Fits `samples` (time-ordered). Nil when there are fewer than 3 samples or they span no time.
    package static func fit(_ samples: [MemorySample]) -> MemoryTrend? {
        guard samples.count >= 3, let first = samples.first, let last = samples.last, last.time > first.time else { return nil }
        let t0 = first.time
        let times = samples.map { Double($0.time &- t0) / 1e9 }
        let values = samples.map { Double($0.bytes) }
        let (x, y) = thin(times, values, to: maxPoints)
        var slopes: [Double] = []
        slopes.reserveCapacity(x.count * (x.count - 1) / 2)
        var concordance = 0
        var pairs = 0
        for i in 0..<x.count {
            for j in (i + 1)..<x.count where x[j] > x[i] {
                let dy = y[j] - y[i]
                slopes.append(dy / (x[j] - x[i]))
                concordance += dy > 0 ? 1 : dy < 0 ? -1 : 0
                pairs += 1
            }
        }
        guard !slopes.isEmpty else { return nil }
        let span = times[times.count - 1]
        var thirds: [Double] = []
        for k in 0..<3 {
            let lo = span * Double(k) / 3, hi = span * Double(k + 1) / 3
            var part: [Double] = []
            for (t, v) in zip(times, values) where t >= lo && (t < hi || (k == 2 && t <= hi)) { part.append(v) }
            thirds.append(part.isEmpty ? .nan : median(&part))
        }
        return MemoryTrend(
            slopeBytesPerMinute: median(&slopes) * 60, tau: Double(concordance) / Double(pairs),
            spanSeconds: span, samples: samples.count, thirds: thirds)
    }

    /// At most `limit` points: each the median time and median value of a run of consecutive samples.
    static func thin(_ x: [Double], _ y: [Double], to limit: Int) -> ([Double], [Double]) {
        guard x.count > limit else { return (x, y) }
        var tx: [Double] = [], ty: [Double] = []
        tx.reserveCapacity(limit)
        ty.reserveCapacity(limit)
        for g in 0..<limit {
            let lo = g * x.count / limit, hi = (g + 1) * x.count / limit
            guard hi > lo else { continue }
            var values = Array(y[lo..<hi])
            tx.append(x[(lo + hi - 1) / 2] * 0.5 + x[(lo + hi) / 2] * 0.5)
            ty.append(median(&values))
        }
        return (tx, ty)
    }

    /// The median (mean of the middle two for an even count); reorders `values`.
    static func median(_ values: inout [Double]) -> Double {
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

/// One reading of a process's memory: what it owns (anonymous + swap), its resident set, or its
/// device memory, as the caller keeps it.
package struct MemorySample: Sendable, Equatable {
    /// Daemon clock (monotonic ns) when it was read.
    package var time: UInt64
    package var bytes: UInt64
    package init(time: UInt64, bytes: UInt64) {
        self.time = time
        self.bytes = bytes
    }
}
