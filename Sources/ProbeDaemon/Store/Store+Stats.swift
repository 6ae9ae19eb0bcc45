import ProbeControl
import ProbeStatistics

extension Store {
    /// Latency and counts of one series or of several merged, over one window.
    struct Aggregate: Sendable {
        let window: StatsWindow
        var calls: UInt64 = 0
        var errors: UInt64 = 0
        var warmup: UInt64 = 0
        var latency = Histogram()
        /// For a recent window, the lifetime latency beside it (its p99 shows what changed).
        var lifetimeLatency = Histogram()
        /// `rateCalls` over `rateSpanNs` (at least a second): for a merged row, all its processes'
        /// calls over the longest time any of them covers — not the sum of each one's rate,
        /// which would count a recycled worker's calls as if they ran beside its successor's.
        var rate: Double { Double(rateCalls) / max(Double(rateSpanNs) / 1e9, 1) }
        var rateCalls: UInt64 = 0
        var rateSpanNs: UInt64 = 0
        /// How much time the figures cover: the window, or less where the series began later.
        var spanNs: UInt64 = 0
        /// Failures by error type, at most `ErrorTypeTable.capacity` names and `other`.
        var errorTypeCounts = ErrorTypeCounts()
        var errorTypes: [String: UInt64] { errorTypeCounts.dictionary }
        var processes = 0
        /// Of `processes`, those gone and folded into a retired aggregate.
        var retiredProcesses = 0
        var memory = MemoryDeltaStats()
        /// Device synchronisation and GPU memory of the rows' processes (see Store+DeviceSync.swift).
        var sync = DeviceSyncSummary()
        /// Items, slow calls and the last minute's error rate.
        var detail = CallFigures()
        /// Calls of `warmup_per_items` series whose items value was past the values tracked.
        var warmupUntracked: UInt64 = 0

        init(window: StatsWindow) { self.window = window }

        /// Adds a series' figures for the window; brings its slices up to `now` first.
        mutating func add(_ s: Series, now: UInt64) {
            s.touch(now)
            let totals = s.totals
            processes += s.key.isRetired ? s.retiredProcesses : 1
            retiredProcesses += s.retiredProcesses
            warmupUntracked = warmupUntracked.saturatingAdd(s.warmupUntracked)
            // Memory deltas are lifetime figures, whatever the window.
            memory.merge(s.memory)
            detail.add(s, window: window, now: now)
            guard let seconds = window.seconds else {
                calls &+= s.calls
                errors &+= s.errors
                warmup &+= s.warmup
                latency.merge(s.windows.lifetimeLatency)
                errorTypeCounts.merge(s.errorTypes)
                spanNs = max(spanNs, now &- min(s.firstSeen, now))
                // The lifetime row's rate is the current one, over the last 10 s, as it always was.
                let recent = s.windows.figures(seconds: 10, totals: totals, latency: false)
                rateCalls = rateCalls.saturatingAdd(recent.calls)
                rateSpanNs = max(rateSpanNs, span(s, seconds: 10, now: now))
                return
            }
            let f = s.windows.figures(seconds: seconds, totals: totals, latency: true)
            calls &+= f.calls
            errors &+= f.errors
            warmup &+= f.warmup
            latency.merge(f.latency)
            lifetimeLatency.merge(s.windows.lifetimeLatency)
            var windowed = ErrorTypeCounts()
            for (t, c) in f.errorTypes.enumerated() where c > 0 {
                if let name = s.errorTypeName(slot: t) { windowed.add(name, c) } else { windowed.addOther(c) }
            }
            errorTypeCounts.merge(windowed)
            let covered = span(s, seconds: seconds, now: now)
            spanNs = max(spanNs, covered)
            rateCalls = rateCalls.saturatingAdd(f.calls)
            rateSpanNs = max(rateSpanNs, covered)
        }

        /// The time a window of `seconds` covers for `s` at `now`: from the window's first slice
        /// start, or from the series' first appearance if later while its process is live. A
        /// process gone spreads its calls over the whole window, as its retired aggregate will:
        /// folding it then changes no rate.
        func span(_ s: Series, seconds: UInt64, now: UInt64) -> UInt64 {
            let start = SeriesWindows.windowStart(seconds: seconds, nowSecond: now / 1_000_000_000) * 1_000_000_000
            return now &- min(s.live ? max(start, s.firstSeen) : start, now)
        }
    }

    /// What `probectl stats` shows: one row per series, then one per (service, operation) merged,
    /// each over `window` (`all`: since the series began), of every operation or only those named
    /// `operation` (in any service). Brings those series up to now.
    func statsSnapshot(window: StatsWindow = .all, operation: String? = nil) -> StatsSnapshot {
        let now = clock.now()
        var figures: [Aggregate] = []
        var rows: [StatsSnapshot.Row] = []
        figures.reserveCapacity(series.count * 2)
        rows.reserveCapacity(series.count * 2)
        let ordered = series.values.filter { s in operation.map { s.key.operation == $0 } ?? true }.sorted {
            ($0.key.service, $0.key.operation, $0.key.pid) < ($1.key.service, $1.key.operation, $1.key.pid)
        }
        let gpuByPid = gpu.holdings
        var merged = Aggregate(window: window)
        var current: (String, String)? = nil
        func flushMerged() {
            if let (service, operation) = current {
                rows.append(StatsSnapshot.Row(service: service, pid: nil, operation: operation, figures: figures.count, merged: true))
                figures.append(merged)
            }
        }
        // A (service, operation) run by one process merges to that process's own row: such a
        // series' figures serve both its rows instead of being computed (or copied) twice.
        var alone = [Bool](repeating: false, count: ordered.count)
        for i in ordered.indices {
            let k = ordered[i].key
            let sameBefore = i > 0 && ordered[i - 1].key.service == k.service && ordered[i - 1].key.operation == k.operation
            let sameAfter = i + 1 < ordered.count && ordered[i + 1].key.service == k.service && ordered[i + 1].key.operation == k.operation
            alone[i] = !sameBefore && !sameAfter
        }
        // Retired aggregates' rows come last, after the merged rows: a reader that takes the first
        // row with a null pid as the merged one (as before they existed) still finds it.
        var retiredRows: [StatsSnapshot.Row] = []
        for s in ordered {
            var one = Aggregate(window: window)
            one.add(s, now: now)
            one.sync.add(s, gpu: s.key.isRetired ? nil : gpuByPid[s.key.pid])
            if s.key.isRetired {
                retiredRows.append(StatsSnapshot.Row(service: s.key.service, pid: nil, operation: s.key.operation, figures: figures.count, merged: false))
            } else {
                rows.append(StatsSnapshot.Row(service: s.key.service, pid: s.key.pid, operation: s.key.operation, figures: figures.count, merged: false))
            }
            figures.append(one)
        }
        for (i, s) in ordered.enumerated() {
            if alone[i] {
                flushMerged()
                current = nil
                rows.append(StatsSnapshot.Row(service: s.key.service, pid: nil, operation: s.key.operation, figures: i, merged: true))
                continue
            }
            if current.map({ $0 != (s.key.service, s.key.operation) }) ?? true {
                flushMerged()
                merged = Aggregate(window: window)
                current = (s.key.service, s.key.operation)
            }
            merged.add(s, now: now)
            merged.sync.add(s, gpu: s.key.isRetired ? nil : gpuByPid[s.key.pid])
        }
        flushMerged()
        rows += retiredRows
        return StatsSnapshot(warmupCalls: configuration.warmup, window: window, operation: operation, rows: rows, figures: figures)
    }
}

/// The rows of `probectl stats`, as the store computed them (Control/StatsJSON.swift renders them).
struct StatsSnapshot: Sendable {
    struct Row: Sendable {
        var service: String
        /// nil for a row merged across the (service, operation)'s processes, and for its retired
        /// aggregate (the processes gone, folded).
        var pid: Int32?
        var operation: String
        /// The row's figures: an index into `figures`, which a series shares with its merged row
        /// when it is its (service, operation)'s only process.
        var figures: Int
        /// The row merged across the (service, operation)'s processes, live and retired.
        var merged: Bool
    }

    var warmupCalls: Int
    var window: StatsWindow
    /// The operation asked for; nil: every operation.
    var operation: String?
    /// One row per process's series, then one per (service, operation) merged, then one per
    /// retired aggregate, in that order.
    var rows: [Row]
    var figures: [Store.Aggregate]
}
