#if canImport(Glibc)
import Glibc
#endif
import ProbeControl

/// `probectl slow --json` and `probectl errors --json` (README "Slow calls and failures, with their
/// context"), rendered from the store's snapshots; also each entry a follower is sent.
enum CallsJSON {
    static func slow(_ s: SlowCallsSnapshot) -> String {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("operation", s.operation)
        w.field("slow_count", s.slowCount)
        w.beginArray("slow_calls")
        for e in s.recent { e.write(to: &w) }
        w.endArray()
        w.beginArray("slowest")
        for e in s.slowest { e.write(to: &w) }
        w.endArray()
        w.endObject()
        return w.text
    }

    static func errors(_ s: ErrorsSnapshot) -> String {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("operation", s.operation)
        w.beginArray("errors")
        for e in s.recent { e.write(to: &w) }
        w.endArray()
        w.beginArray("operations")
        for o in s.operations {
            w.beginObject()
            w.field("service", o.service)
            w.field("operation", o.operation)
            w.field("calls", o.figures.calls)
            w.field("errors", o.figures.errors)
            w.field("error_rate_1m", ratio: o.figures.detail.errorRate1m)
            StatsJSON.writeErrorTypes(o.figures.errorTypes, to: &w)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}

extension CallEntry {
    /// One object of `slow_calls` / `errors` (see README "Slow calls and failures").
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("service", service)
        w.field("pid", pid)
        w.field("operation", operation)
        w.field("start_wall_ns", detail.startWallNanoseconds)
        w.field("start_time", CallEntry.iso8601(detail.startWallNanoseconds))
        w.field("start_ns", detail.startNanoseconds)
        w.field("duration_ns", detail.durationNanoseconds)
        w.field("items", detail.items)
        w.field("failed", detail.failed)
        w.field("slow", detail.slow)
        w.field("truncated", detail.truncated)
        w.field("error_type", errorType ?? (detail.failed ? "unknown" : nil))
        w.field("message", detail.failed ? detail.errorDescription : nil)
        w.beginObject("attributes")
        for a in detail.attributes { w.field(a.key, a.value) }
        w.endObject()
        w.endObject()
    }

    var json: String {
        var w = JSONWriter(capacity: 512)
        write(to: &w)
        return w.text
    }

    /// `2024-05-01T12:34:56.789Z` (UTC, milliseconds).
    static func iso8601(_ ns: UInt64) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = Int(ns / 1_000_000 % 1000)
        let millis = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }
}
