import ProbeControl
import ProbeStatistics
import ProbeWire

/// The Prometheus text exposition format, version 0.0.4.
public enum PrometheusExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The fixed `le` boundaries of `probe_call_duration_seconds`: (nanoseconds, label as Go's
    /// client library writes it). Every probed exposes the same set, so `sum by (le)` works across
    /// hosts. A boundary B counts the internal logarithmic buckets whose whole range is ≤ B; the
    /// one bucket straddling B goes to the next boundary up, so a call at B or at most 1.7%
    /// below it (0.16% to 1.70% depending on the boundary) may be counted one bucket higher,
    /// never lower. `PrometheusTests` checks that bound for each boundary.
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

    /// Cumulative counts of `histogram` at each of `durationBoundaries` (then +Inf = total).
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
            var latency = Histogram()
        }
        var merged: [OperationKey: Merged] = [:]
        for o in snapshot.operations {
            let key = OperationKey(service: o.service, operation: o.operation)
            var m = merged[key] ?? Merged()
            m.calls &+= o.calls
            m.failures &+= o.failures
            m.warmup &+= o.warmup
            m.latency.merge(o.latency)
            merged[key] = m
        }
        let rows = merged.sorted { $0.key < $1.key }

        w.family("probe_calls_total", .counter,
                 "Completed calls per operation, warm-up and failures included, across the host's processes.")
        for (k, m) in rows { w.sample("probe_calls_total", [("service", k.service), ("operation", k.operation)], m.calls) }
        w.family("probe_failures_total", .counter,
                 "Failed calls per operation (bodies that threw, or recorded as failed).")
        for (k, m) in rows { w.sample("probe_failures_total", [("service", k.service), ("operation", k.operation)], m.failures) }
        w.family("probe_warmup_calls_total", .counter,
                 "Calls kept out of latency as warm-up: the first \(snapshot.warmup) of each process's operation.")
        for (k, m) in rows { w.sample("probe_warmup_calls_total", [("service", k.service), ("operation", k.operation)], m.warmup) }

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
        return w.text
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

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        sample(name, labels, formatted: value.isFinite ? "\(value)" : (value.isNaN ? "NaN" : (value > 0 ? "+Inf" : "-Inf")))
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
