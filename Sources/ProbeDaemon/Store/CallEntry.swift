#if canImport(Glibc)
import Glibc
#endif
import ProbeControl
import ProbeWire

/// One slow or failed call as probed keeps it: the client's CALL_DETAIL with the names resolved.
struct CallEntry: Sendable {
    /// Arrival order across the whole daemon; larger is newer.
    var sequence: UInt64
    var service: String
    var pid: Int32
    var operation: String
    var detail: CallDetail
    /// The error type's name; nil for a slow call that did not fail, or a failure without a type.
    var errorType: String?

    /// Heap bytes this entry holds, roughly: what the daemon's budget for kept calls counts.
    var footprintBytes: Int {
        160 + service.utf8.count + operation.utf8.count + detail.errorDescription.utf8.count + (errorType?.utf8.count ?? 0)
            + detail.attributes.reduce(0) { $0 + 32 + $1.key.utf8.count + $1.value.utf8.count }
    }

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

    /// One log line: what an operator grepping the journal needs, attributes included.
    var logLine: String {
        var line = detail.failed ? "failed call" : "slow call"
        line += ": service \(service) pid \(pid) operation \(operation) duration \(CallEntry.milliseconds(detail.durationNanoseconds))"
        if detail.items > 1 { line += " items \(detail.items)" }
        if detail.failed { line += " error \(errorType ?? "unknown"): \(detail.errorDescription)" }
        if !detail.attributes.isEmpty {
            line += " attributes " + detail.attributes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if detail.truncated { line += " (truncated by the client)" }
        return line
    }

    static func milliseconds(_ ns: UInt64) -> String {
        let tenths = (ns + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10)ms"
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
