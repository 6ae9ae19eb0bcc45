import ProbeControl
import ProbeStatistics
import ProbeWire

/// The Prometheus text exposition format, version 0.0.4.
public enum PrometheusExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The fixed `le` boundaries of `probe_call_duration_seconds`: (nanoseconds, label as Go's
    /// client library writes it). Every probed exposes the same set, so `sum by (le)` works across
    /// hosts. Each is one of the internal histogram's `Histogram.exactEdges` (a bucket ends
    /// exactly there), so the bucket `le=B` counts exactly the calls of at most B nanoseconds:
    /// a call of exactly 1 ms is in `le="0.001"`, one of 1 ms + 1 ns is not. `PrometheusTests`
    /// checks every boundary and the values a nanosecond either side.
    public static let durationBoundaries: [(nanoseconds: UInt64, label: String)] = [
        (1_000, "1e-06"), (2_500, "2.5e-06"), (5_000, "5e-06"),
        (10_000, "1e-05"), (25_000, "2.5e-05"), (50_000, "5e-05"),
        (100_000, "0.0001"), (250_000, "0.00025"), (500_000, "0.0005"),
        (1_000_000, "0.001"), (2_500_000, "0.0025"), (5_000_000, "0.005"),
        (10_000_000, "0.01"), (25_000_000, "0.025"), (50_000_000, "0.05"),
        (100_000_000, "0.1"), (250_000_000, "0.25"), (500_000_000, "0.5"),
        (1_000_000_000, "1"), (2_500_000_000, "2.5"), (5_000_000_000, "5"),
        (10_000_000_000, "10"), (30_000_000_000, "30"), (60_000_000_000, "60"),
        (120_000_000_000, "120"), (240_000_000_000, "240"),
    ]

    /// Cumulative counts of `histogram` at each of `durationBoundaries` (then +Inf = total): the
    /// buckets whose every value is at most the boundary, which, the boundaries being exact edges,
    /// are exactly the values at most the boundary.
    public static func cumulativeCounts(_ histogram: Histogram) -> [UInt64] {
        var result = [UInt64](repeating: 0, count: durationBoundaries.count)
        var b = 0
        var below: UInt64 = 0
        for bucket in histogram.buckets() {
            // The bucket holds values up to upperBound - 1 (integer nanoseconds).
            while b < durationBoundaries.count && bucket.upperBound - 1 > durationBoundaries[b].nanoseconds {
                result[b] = below
                b += 1
            }
            below &+= bucket.count
        }
        while b < durationBoundaries.count {
            result[b] = below
            b += 1
        }
        return result
    }

    /// Renders `snapshot`. Per (service, operation), merged across every process that ever
    /// reported it, so the label values are bounded by what the services define, not by pids;
    /// per (service, pid, operation) only for processes connected now, so exited processes'
    /// pids leave the exposition instead of accumulating.
    public static func render(_ snapshot: MetricsSnapshot) -> String {
        var w = PrometheusWriter(capacity: 2048 + snapshot.operations.count * 2500)

        struct OperationKey: Hashable, Comparable {
            var service: String
            var operation: String
            static func < (a: Self, b: Self) -> Bool { (a.service, a.operation) < (b.service, b.operation) }
        }
        struct Merged {
            var calls: UInt64 = 0
            var failures: UInt64 = 0
            var warmup: UInt64 = 0
            var slowCalls: UInt64 = 0
            var items: UInt64 = 0
            var synchronizedCalls: UInt64 = 0
            var latency = Histogram()
        }
        var merged: [OperationKey: Merged] = [:]
        for o in snapshot.operations {
            let key = OperationKey(service: o.service, operation: o.operation)
            var m = merged[key] ?? Merged()
            m.calls &+= o.calls
            m.failures &+= o.failures
            m.warmup &+= o.warmup
            m.slowCalls &+= o.slowCalls
            m.items &+= o.items
            m.synchronizedCalls &+= o.synchronizedCalls
            m.latency.merge(o.latency)
            merged[key] = m
        }
        let rows = merged.sorted { $0.key < $1.key }
        func perOperation(_ name: String, _ help: String, _ value: (Merged) -> UInt64) {
            w.family(name, .counter, help)
            for (k, m) in rows { w.sample(name, [("service", k.service), ("operation", k.operation)], value(m)) }
        }

        perOperation("probe_calls_total", "Completed calls per operation, warm-up and failures included, across the host's processes.") { $0.calls }
        perOperation("probe_failures_total", "Failed calls per operation (bodies that threw, or recorded as failed).") { $0.failures }
        perOperation("probe_warmup_calls_total",
                     "Calls kept out of latency as warm-up: the first \(snapshot.warmup) of each process's operation.") { $0.warmup }
        perOperation("probe_slow_calls_total",
                     "Calls over the operation's slow-call threshold, reported with their context (probectl slow).") { $0.slowCalls }
        perOperation("probe_items_total", "Items (batch sizes) the operation's calls processed.") { $0.items }
        perOperation("probe_device_synchronized_calls_total",
                     "Calls whose timing waited for the GPU (measured with sync:); the rest may count only kernel launches.") { $0.synchronizedCalls }

        w.family("probe_call_duration_seconds", .histogram,
                 "Latency of successful calls past warm-up, in seconds.")
        for (k, m) in rows {
            let labels = [("service", k.service), ("operation", k.operation)]
            let counts = cumulativeCounts(m.latency)
            for (i, boundary) in durationBoundaries.enumerated() {
                w.sample("probe_call_duration_seconds_bucket", labels + [("le", boundary.label)], counts[i])
            }
            w.sample("probe_call_duration_seconds_bucket", labels + [("le", "+Inf")], m.latency.totalCount)
            w.sample("probe_call_duration_seconds_sum", labels, Double(m.latency.sum) / 1e9)
            w.sample("probe_call_duration_seconds_count", labels, m.latency.totalCount)
        }

        let live = snapshot.operations.filter(\.connected).sorted {
            ($0.service, $0.operation, $0.pid) < ($1.service, $1.operation, $1.pid)
        }
        w.family("probe_process_calls_total", .counter,
                 "Completed calls per operation of each connected process (warm-up and failures included).")
        for o in live {
            w.sample("probe_process_calls_total", [("service", o.service), ("operation", o.operation), ("pid", String(o.pid))], o.calls)
        }
        w.family("probe_process_failures_total", .counter, "Failed calls per operation of each connected process.")
        for o in live {
            w.sample("probe_process_failures_total", [("service", o.service), ("operation", o.operation), ("pid", String(o.pid))], o.failures)
        }

        let processes = snapshot.processes.sorted { ($0.service, $0.pid) < ($1.service, $1.pid) }
        w.family("probe_process_events_received_total", .counter, "Events probed received from each connected process.")
        for p in processes {
            w.sample("probe_process_events_received_total", [("service", p.service), ("pid", String(p.pid))], p.eventsReceived)
        }
        w.family("probe_process_dropped_events_total", .counter,
                 "Events each connected process dropped (buffer full, probed absent or slow), as it reported them.")
        for p in processes {
            w.sample("probe_process_dropped_events_total", [("service", p.service), ("pid", String(p.pid))], p.droppedEvents)
        }

        renderProcessMemory(snapshot, processes, into: &w)
        renderDevices(snapshot, into: &w)

        w.family("probed_events_received_total", .counter, "Events probed received from all clients.")
        w.sample("probed_events_received_total", [], snapshot.eventsReceived)
        w.family("probed_received_bytes_total", .counter, "Bytes of client messages probed received.")
        w.sample("probed_received_bytes_total", [], snapshot.bytesReceived)
        w.family("probed_messages_received_total", .counter, "Client messages probed accepted.")
        w.sample("probed_messages_received_total", [], snapshot.messagesReceived)
        w.family("probed_messages_rejected_total", .counter,
                 "Client messages probed refused (malformed, oversized, out of order); each closed its connection.")
        w.sample("probed_messages_rejected_total", [], snapshot.messagesRejected)
        w.family("probed_series_refused_total", .counter,
                 "New series probed refused because it already held --max-series series.")
        w.sample("probed_series_refused_total", [], snapshot.seriesRefused)
        w.family("probed_refused_events_total", .counter,
                 "Events received for operations refused by --max-series: counted, not measured.")
        w.sample("probed_refused_events_total", [], snapshot.eventsRefused)
        w.family("probed_client_dropped_events_total", .counter,
                 "Events clients reported dropped before they reached probed, every process since probed started.")
        w.sample("probed_client_dropped_events_total", [], snapshot.droppedEvents)
        w.family("probed_connected_processes", .gauge, "Client processes connected now.")
        w.sample("probed_connected_processes", [], UInt64(snapshot.connectedProcesses))
        w.family("probed_series", .gauge, "Series held: (service, pid, operation) combinations since probed started.")
        w.sample("probed_series", [], UInt64(snapshot.series))
        w.family("probed_start_time_seconds", .gauge, "When probed started, in seconds since the Unix epoch.")
        w.sample("probed_start_time_seconds", [], snapshot.startTimeSeconds)
        w.family("probed_build_info", .gauge, "Always 1; the labels give probed's version and protocol.")
        w.sample("probed_build_info", [("version", probeVersion), ("protocol", String(WireProtocol.version))], UInt64(1))
        w.family("probed_gpu_available", .gauge, "1 when probed has loaded and initialised NVML, else 0 (probectl gpu says why).")
        w.sample("probed_gpu_available", [], UInt64(snapshot.gpuAvailable ? 1 : 0))
        return w.text
    }

    /// Memory of each connected process, labelled `service` and `pid`, with the trend and verdict
    /// `probectl procs` shows (fitted here, from the snapshot's copy of the history); device
    /// memory where NVML sampled the process. A figure not known is absent, never 0.
    static func renderProcessMemory(_ snapshot: MetricsSnapshot, _ processes: [MetricsSnapshot.Process], into w: inout PrometheusWriter) {
        struct Fitted {
            var labels: [(String, String)]
            var memory: ProcessMemory?
            var resident: LeakDetector.Assessment?
            var gpu: ProcessGPUMemory?
            var device: LeakDetector.Assessment?
        }
        let detector = snapshot.leakDetector, window = snapshot.leakWindow
        let fitted = processes.map { p in
            Fitted(labels: [("service", p.service), ("pid", String(p.pid))],
                   memory: p.memory, resident: p.memory.map { $0.latestAssessment(detector, window: window) },
                   gpu: p.gpu, device: p.gpu.map { $0.latestAssessment(detector, window: window) })
        }
        func gauge(_ name: String, _ help: String, _ value: (Fitted) -> Double?) {
            w.family(name, .gauge, help)
            for f in fitted { if let v = value(f) { w.sample(name, f.labels, v) } }
        }
        gauge("probe_process_resident_memory_bytes", "Resident memory of each connected process (VmRSS) at the last sample.") {
            $0.memory?.latest.map { Double($0.rssBytes) }
        }
        gauge("probe_process_anonymous_memory_bytes", "Resident anonymous memory (RssAnon: heap, stacks) of each connected process.") {
            $0.memory?.latest?.anonBytes.map { Double($0) }
        }
        gauge("probe_process_swap_bytes", "Memory of each connected process swapped out (VmSwap).") {
            $0.memory?.latest?.swapBytes.map { Double($0) }
        }
        gauge("probe_process_owned_memory_bytes",
              "Memory each connected process owns: RssAnon + VmSwap, what the leak detector judges (file-backed pages are not).") {
            $0.memory?.latest.map { Double($0.ownedBytes) }
        }
        gauge("probe_process_file_memory_bytes",
              "Resident pages of mapped files and shared memory (RssFile + RssShmem) of each connected process: context, never a leak.") {
            $0.memory?.latest.flatMap { s in
                s.fileBytes == nil && s.shmemBytes == nil ? nil : Double(s.fileBytes ?? 0) + Double(s.shmemBytes ?? 0)
            }
        }
        gauge("probe_process_resident_memory_peak_bytes", "The largest resident set each connected process ever had (VmHWM).") {
            $0.memory?.latest.map { Double($0.peakBytes) }
        }
        gauge("probe_process_memory_growth_bytes_per_second",
              "Growth of the memory each connected process owns (RssAnon + VmSwap): the Theil-Sen slope of the leak window, as probectl procs shows it per minute.") {
            $0.resident?.trend.map { $0.slopeBytesPerMinute / 60 }
        }
        gauge("probe_process_memory_leak_suspected", "1 while probed suspects the process of leaking memory (probectl procs), else 0.") {
            $0.resident.map { $0.suspected ? 1 : 0 }
        }
        gauge("probe_process_gpu_memory_bytes", "Device memory each connected process holds on all GPUs together, per NVML.") {
            $0.gpu?.latest.map { Double($0) }
        }
        gauge("probe_process_gpu_memory_growth_bytes_per_second",
              "Growth of each connected process's device memory: the Theil-Sen slope of the leak window.") {
            $0.device?.trend.map { $0.slopeBytesPerMinute / 60 }
        }
        gauge("probe_process_gpu_memory_leak_suspected", "1 while probed suspects the process of leaking device memory, else 0.") {
            $0.gpu == nil ? nil : $0.device.map { $0.suspected ? 1 : 0 }
        }
    }

    /// Each GPU's figures from NVML's last round, labelled `gpu` (index), `uuid` and `model`;
    /// nothing at all without NVML. A figure NVML did not give is absent.
    static func renderDevices(_ snapshot: MetricsSnapshot, into w: inout PrometheusWriter) {
        guard let devices = snapshot.gpu?.devices, !devices.isEmpty else { return }
        let labelled = devices.map { d in (labels: [("gpu", String(d.index)), ("uuid", d.uuid ?? ""), ("model", d.name ?? "")], device: d) }
        func gauge(_ name: String, _ help: String, _ value: (GPUDevice) -> Double?) {
            w.family(name, .gauge, help)
            for (labels, d) in labelled { if let v = value(d) { w.sample(name, labels, v) } }
        }
        gauge("probe_gpu_memory_total_bytes", "Device memory installed.") { $0.memoryTotalBytes.map { Double($0) } }
        gauge("probe_gpu_memory_used_bytes",
              "Device memory allocated, without the reserved memory (nvmlDeviceGetMemoryInfo_v2, as nvidia-smi shows it).") {
            $0.memoryUsedBytes.map { Double($0) }
        }
        gauge("probe_gpu_memory_reserved_bytes", "Device memory the driver and firmware set aside.") { $0.memoryReservedBytes.map { Double($0) } }
        gauge("probe_gpu_memory_free_bytes", "Device memory unallocated.") { $0.memoryFreeBytes.map { Double($0) } }
        gauge("probe_gpu_utilization_ratio", "Fraction of the last sample period in which a kernel ran on the GPU.") {
            $0.utilizationGPUPercent.map { Double($0) / 100 }
        }
        gauge("probe_gpu_memory_utilization_ratio", "Fraction of the last sample period in which device memory was read or written.") {
            $0.utilizationMemoryPercent.map { Double($0) / 100 }
        }
        gauge("probe_gpu_temperature_celsius", "GPU die temperature.") { $0.temperatureCelsius.map { Double($0) } }
        gauge("probe_gpu_power_watts", "Power drawn by the GPU and its memory.") { $0.powerMilliwatts.map { Double($0) / 1000 } }
        gauge("probe_gpu_sm_clock_hertz", "Clock of the streaming multiprocessors now.") { $0.smClockMHz.map { Double($0) * 1e6 } }
        let name = "probe_gpu_clocks_event_reason"
        w.family(name, .gauge, "1 while NVML reports this reason for the clocks being below their maximum (clocks-event or throttle reason), else 0.")
        for (labels, d) in labelled {
            guard let mask = d.clocksEventReasons else { continue }
            for r in GPUClocksEventReason.all { w.sample(name, labels + [("reason", r.name)], UInt64(mask & r.bit != 0 ? 1 : 0)) }
            w.sample(name, labels + [("reason", "other")], UInt64(mask & GPUClocksEventReason.other != 0 ? 1 : 0))
        }
    }
}

/// Appends HELP, TYPE and sample lines, escaping as the text format requires.
struct PrometheusWriter {
    enum Kind: String { case counter, gauge, histogram }
    private(set) var text = ""

    init(capacity: Int) { text.reserveCapacity(capacity) }

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) "
        for ch in help.unicodeScalars {
            switch ch {
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(ch)
            }
        }
        text += "\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        sample(name, labels, formatted: String(value))
    }

    /// A whole number below 2^53 is written without a fraction (bytes read as bytes).
    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let text = !value.isFinite ? (value.isNaN ? "NaN" : (value > 0 ? "+Inf" : "-Inf"))
            : value == value.rounded() && abs(value) < 9_007_199_254_740_992 ? String(Int64(value)) : "\(value)"
        sample(name, labels, formatted: text)
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], formatted value: String) {
        line(name, labels)
        text += value
        text += "\n"
    }

    private mutating func line(_ name: String, _ labels: [(String, String)]) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (i, (key, value)) in labels.enumerated() {
                if i > 0 { text += "," }
                text += key
                text += "=\""
                for ch in value.unicodeScalars {
                    switch ch {
                    case "\\": text += "\\\\"
                    case "\"": text += "\\\""
                    case "\n": text += "\\n"
                    default: text.unicodeScalars.append(ch)
                    }
                }
                text += "\""
            }
            text += "}"
        }
        text += " "
    }
}
