import ProbeControl
import ProbeStatistics

/// `probectl stats --json` (README "`probectl stats --json`"), rendered from the store's snapshot.
enum StatsJSON {
    /// The quantiles each row reports: p50, p90, p99, p99.9.
    static let quantiles = [0.5, 0.9, 0.99, 0.999]

    static func render(_ snapshot: StatsSnapshot) -> String {
        var w = JSONWriter(capacity: 640 * (snapshot.rows.count + 1))  // rows are about 570 bytes
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("warmup_calls", snapshot.warmupCalls)
        w.field("window", snapshot.window.rawValue)
        w.field("operation", snapshot.operation)
        w.beginArray("operations")
        for row in snapshot.rows {
            snapshot.figures[row.figures].write(service: row.service, pid: row.pid, operation: row.operation, merged: row.merged, to: &w)
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// `error_types`: failures by error type name, sorted by name.
    static func writeErrorTypes(_ types: [String: UInt64], to w: inout JSONWriter) {
        w.beginObject("error_types")
        for (k, v) in types.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
    }
}

extension Store.Aggregate {
    /// One row of `operations`.
    func write(service: String, pid: Int32?, operation: String, merged: Bool, to w: inout JSONWriter) {
        w.beginObject()
        w.field("service", service)
        w.field("pid", pid)
        w.field("operation", operation)
        w.field("window", window.rawValue)
        w.field("calls", calls)
        w.field("errors", errors)
        w.field("warmup", warmup)
        w.field("counted", latency.totalCount)
        let empty = latency.totalCount == 0
        let q = latency.quantiles(StatsJSON.quantiles)
        w.field("min_ns", empty ? nil : latency.min)
        w.field("mean_ns", empty ? nil : latency.mean)
        w.field("p50_ns", empty ? nil : q[0])
        w.field("p90_ns", empty ? nil : q[1])
        w.field("p99_ns", empty ? nil : q[2])
        w.field("p999_ns", empty ? nil : q[3])
        w.field("max_ns", empty ? nil : latency.max)
        w.field("rate_per_s", rate)
        StatsJSON.writeErrorTypes(errorTypes, to: &w)
        w.field("processes", processes)
        w.field("retired_processes", retiredProcesses)
        w.field("merged", merged)
        w.field("span_ns", spanNs)
        let lifetime = window == .all ? latency : lifetimeLatency
        w.field("lifetime_p99_ns", lifetime.totalCount == 0 ? nil : lifetime.quantile(0.99))
        w.field("mem_delta_calls", memory.count)
        w.field("mem_delta_mean_bytes", memory.meanBytes)
        w.field("mem_delta_max_bytes", memory.largest)
        w.field("mem_delta_total_bytes", memory.total)
        sync.write(to: &w, also: warmupWarnings)
        detail.write(to: &w)
        w.endObject()
    }
}

extension Store.Aggregate {
    /// A `warmup_per_items` operation with more distinct items values than probed tracks.
    var warmupWarnings: [String] {
        guard warmupUntracked > 0 else { return [] }
        return ["warm-up per items value: \(warmupUntracked) calls had an items value past the first \(WarmupFilter.maxItemsValues) distinct ones of their process and got no warm-up of their own (they are measured)"]
    }
}

extension DeviceSyncSummary {
    /// Why the row's timings are likely wrong: a process of the row holds GPU memory but its calls
    /// were not measured with `sync:`.
    var warnings: [String] {
        guard calls > 0, !synchronized, !gpuHolders.isEmpty else { return [] }
        // Memory NVML withholds (NVML_VALUE_NOT_AVAILABLE) is unknown, never 0 MiB.
        let known = gpuHolders.compactMap(\.bytes)
        let bytes = DeviceSyncSummary.mebibytes(known.saturatingSum())
        let who = gpuHolders.count == 1 ? "process \(gpuHolders[0].pid) holds" : "\(gpuHolders.count) of its processes hold"
        let amount = known.count == gpuHolders.count ? "\(bytes) of GPU memory"
            : known.isEmpty ? "GPU memory (NVML does not say how much)"
            : "at least \(bytes) of GPU memory (NVML does not say how much for all of them)"
        let share = synchronizedCalls == 0 ? "no call was" : "only \(synchronizedCalls) of \(calls) calls were"
        return ["timings not device-synchronised: \(who) \(amount) but \(share) measured with sync:, so durations likely count only the kernel launches. If the operation launches GPU work, time it with sync: (Swift measure(sync:), Python sync=\"cuda\"); if it launches none, declare it and this warning goes: Swift probe.operation(name, deviceWork: false), Python probe.measure(name, device_work=False)"]
    }

    /// `device_synchronized`, `synchronized_calls` and `warnings` (these and `also`).
    func write(to w: inout JSONWriter, also: [String] = []) {
        w.field("device_synchronized", synchronized)
        w.field("synchronized_calls", synchronizedCalls)
        w.beginArray("warnings")
        for line in warnings + also { w.element(line) }
        w.endArray()
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        let mib = (Double(bytes) / 1_048_576 * 10).rounded() / 10
        return "\(mib) MiB"
    }
}

extension CallFigures {
    func write(to w: inout JSONWriter) {
        w.field("items", items)
        w.field("lifetime_calls", lifetimeCalls)
        w.field("items_per_s", itemsPerSecond)
        w.field("mean_per_item_ns", countedItems == 0 ? nil : UInt64(clamping: countedItemNanoseconds / countedItems))
        w.field("slow_calls", slowCalls)
        w.field("error_rate_1m", ratio: errorRate1m)
    }
}
