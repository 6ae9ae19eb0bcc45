import ProbeControl
import ProbeStatistics

/// `probectl procs --json`: one row per client process, connected or recently exited, rendered
/// from the store's snapshot.
enum ProcsJSON {
    static func render(_ s: ProcsSnapshot) -> String {
        let now = s.now
        var w = JSONWriter(capacity: 1024 + 640 * s.processes.count)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("sample_interval_ns", s.options.sampleInterval)
        w.field("leak_threshold_bytes_per_min", s.options.leakThresholdBytesPerMinute)
        w.field("leak_window_ns", s.options.leakWindow)
        w.beginArray("processes")
        for p in s.processes {
            let c = p.connection, m = p.memory
            // Fitted afresh from the whole window; for an exited process the window ends at its last sample.
            let assessment = p.assessment
            let trend = assessment?.trend
            w.beginObject()
            w.field("service", c.service)
            w.field("pid", c.pid)
            w.field("uid", c.uid)
            w.field("state", c.state)
            w.field("rss_bytes", m?.latest?.rssBytes)
            w.field("rss_peak_bytes", m?.latest?.peakBytes)
            w.field("rss_anon_bytes", m?.latest?.anonBytes)
            w.field("rss_file_bytes", m?.latest?.fileBytes)
            w.field("rss_shmem_bytes", m?.latest?.shmemBytes)
            w.field("swap_bytes", m?.latest?.swapBytes)
            w.field("owned_bytes", m?.latest?.ownedBytes)
            // The leak detector's fit, on owned memory; VmRSS's own trend beside it as context.
            w.field("owned_growth_bytes_per_min", trend.map { $0.slopeBytesPerMinute.rounded() })
            w.field("owned_growth_fit", trend?.tau)
            w.field("rss_growth_bytes_per_min", p.rssTrend.map { $0.slopeBytesPerMinute.rounded() })
            w.field("rss_growth_fit", p.rssTrend?.tau)
            w.field("trend", assessment?.verdict ?? "insufficient_data")
            w.field("leak_suspected", assessment?.suspected ?? false)
            w.field("leak_suspected_for_ns", (assessment?.suspected ?? false) ? m?.suspectedSince.map { now &- $0 } ?? 0 : nil)
            w.field("trend_window_ns", trend.map { UInt64(saturating: $0.spanSeconds * 1e9) })
            w.field("samples", m?.history.count ?? 0)
            w.field("sample_failures", m?.sampleFailures ?? 0)
            w.field("last_sample_age_ns", m?.history.last.map { now &- $0.time })
            w.field("connected_for_ns", (c.disconnectedAt ?? now) &- c.connectedAt)
            w.field("exited_ago_ns", c.state == "connected" ? nil : c.disconnectedAt.map { now &- $0 })
            w.field("events_received", c.eventsReceived)
            w.field("dropped_events", c.droppedReported)
            w.field("memory_deltas_dropped", m?.deltasDropped ?? 0)
            // The GPU fields: all null where NVML is absent or the process was never sampled on it.
            let gpu = p.gpu, a = p.gpuAssessment
            w.field("gpu_memory_bytes", gpu?.latest)
            w.field("gpu_memory_growth_bytes_per_min", a?.trend.map { $0.slopeBytesPerMinute.rounded() })
            w.field("gpu_trend", gpu == nil ? nil : a?.verdict)
            w.field("gpu_leak_suspected", gpu == nil ? nil : a?.suspected)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
