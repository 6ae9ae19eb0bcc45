import Foundation
import ProbeControl

extension CLI {
    /// `probectl procs`: one line per client process with its memory and leak assessment.
    public static func render(procs p: ProcsReport, width: Int? = nil) -> String {
        guard !p.processes.isEmpty else { return "no client processes connected" }
        // GPU columns only where probed has NVML figures for some process.
        let gpu = p.processes.contains { $0.gpuMemoryBytes != nil }
        var t = TextTable(
            ["SERVICE", "PID", "STATE", "RSS", "PEAK", "GROWTH/MIN", "FIT", "TREND", "LEAK", "EVENTS", "DROPPED"]
                + (gpu ? ["GPU MEM", "GPU GROWTH/MIN", "GPU LEAK"] : []),
            rightAligned: [1, 3, 4, 5, 6, 9, 10, 11, 12],
            fit: [.drop("FIT"), .drop("EVENTS"), .drop("DROPPED"), .drop("PEAK"), .drop("GPU GROWTH/MIN"), .drop("STATE"),
                  .shrink("SERVICE", to: 12), .drop("TREND"), .drop("GROWTH/MIN"), .drop("GPU MEM"), .shrink("SERVICE", to: 6)])
        for r in p.processes {
            t.add([
                r.service, String(r.pid), r.state, Format.bytes(r.rssBytes), Format.bytes(r.rssPeakBytes),
                r.rssGrowthBytesPerMin.map { Format.signedBytes($0) } ?? "-",
                r.rssGrowthFit.map { Format.decimal($0, 2) } ?? "-",
                Format.trend(r.trend), r.leakSuspected ? "SUSPECTED" : "no", String(r.eventsReceived), String(r.droppedEvents),
            ] + (gpu ? gpuCells(r) : []))
        }
        let threshold = Format.bytes(UInt64(p.leakThresholdBytesPerMin))
        let note = """
            (sampled every \(Format.duration(p.sampleIntervalNs)); growth is the Theil–Sen slope over the last \
            \(Format.duration(p.leakWindowNs)), fit is Kendall's tau; a leak is suspected at \(threshold)/min or more, \
            rising steadily across the window)
            """
        return t.render(width: width) + "\n" + Format.wrap(note, width: width)
    }

    /// The memory columns `probectl stats` adds when some operation recorded per-call deltas.
    static func memoryHeader(_ s: StatsReport) -> [String]? {
        s.operations.contains { ($0.memDeltaCalls ?? 0) > 0 } ? ["MEMΔ MEAN", "MEMΔ MAX", "MEMΔ TOTAL"] : nil
    }

    static func memoryCells(_ r: OperationRow) -> [String] {
        guard (r.memDeltaCalls ?? 0) > 0 else { return ["-", "-", "-"] }
        return [r.memDeltaMeanBytes, r.memDeltaMaxBytes, r.memDeltaTotalBytes].map { $0.map { Format.signedBytes(Double($0)) } ?? "-" }
    }
}

extension Format {
    /// A memory trend as a table shows it: probed's one-word verdicts (`leak`, `growing`,
    /// `shrinking`, `flat`) as they are, `insufficient_data` in words. JSON keeps the word.
    public static func trend(_ verdict: String) -> String {
        verdict == "insufficient_data" ? "too few samples" : verdict.replacingOccurrences(of: "_", with: " ")
    }

    /// A size in bytes as "812B", "15.2KiB", "3.40MiB", "1.25GiB"; "-" for nil.
    public static func bytes(_ v: UInt64?) -> String {
        guard let v else { return "-" }
        return magnitude(Double(v))
    }

    /// A signed size: "+16.0MiB", "-4.00KiB", "0B".
    public static func signedBytes(_ v: Double) -> String {
        let text = magnitude(abs(v))
        return v > 0.5 ? "+" + text : v < -0.5 ? "-" + text : "0B"
    }

    static func magnitude(_ v: Double) -> String {
        switch v {
        case ..<1024: return "\(Int64(v.rounded()))B"
        case ..<1_048_576: return fixed(v / 1024) + "KiB"
        case ..<1_073_741_824: return fixed(v / 1_048_576) + "MiB"
        default: return fixed(v / 1_073_741_824) + "GiB"
        }
    }
}
