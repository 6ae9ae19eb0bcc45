import Foundation
import ProbeControl
import ProbeStatistics

extension CLI {
    /// `probectl procs`: one line per client process with its memory and leak assessment.
    public static func render(procs p: ProcsReport, width: Int? = nil) -> String {
        guard !p.processes.isEmpty else { return "no client processes connected" }
        // GPU columns only where probed has NVML figures for some process.
        let gpu = p.processes.contains { $0.gpuMemoryBytes != nil }
        var t = TextTable(
            ["SERVICE", "PID", "STATE", "RSS", "OWNED", "FILE", "PEAK", "GROWTH/MIN", "FIT", "TREND", "LEAK", "EVENTS", "DROPPED"]
                + (gpu ? ["GPU MEM", "GPU GROWTH/MIN", "GPU LEAK"] : []),
            rightAligned: [1, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14],
            fit: [.drop("FIT"), .drop("EVENTS"), .drop("DROPPED"), .drop("PEAK"), .drop("FILE"), .drop("GPU GROWTH/MIN"), .drop("STATE"),
                  .shrink("SERVICE", to: 12), .drop("TREND"), .drop("GROWTH/MIN"), .drop("GPU MEM"), .shrink("SERVICE", to: 6)])
        for r in p.processes {
            t.add([
                r.service, String(r.pid), r.state, Format.bytes(r.rssBytes), Format.bytes(r.ownedBytes),
                Format.bytes(r.rssFileBytes.map { $0.saturatingAdd(r.rssShmemBytes ?? 0) }), Format.bytes(r.rssPeakBytes),
                r.ownedGrowthBytesPerMin.map { Format.signedBytes($0) } ?? "-",
                r.ownedGrowthFit.map { Format.decimal($0, 2) } ?? "-",
                Format.trend(r.trend), r.leakSuspected ? "SUSPECTED" : "no", String(r.eventsReceived), String(r.droppedEvents),
            ] + (gpu ? gpuCells(r) : []))
        }
        let threshold = Format.bytes(UInt64(saturating: p.leakThresholdBytesPerMin))
        let note = """
            (sampled every \(Format.duration(p.sampleIntervalNs)); OWNED is anonymous memory and swap, FILE the pages \
            of mapped files and shared memory, which come and go (model weights read through mmap) and are no leak; \
            growth is the Theil–Sen slope of OWNED over the last \(Format.duration(p.leakWindowNs)), fit is Kendall's tau; \
            a leak is suspected at \(threshold)/min or more, rising steadily across the window)
            """
        return t.render(width: width) + "\n" + Format.wrap(note, width: width)
    }

    /// The memory columns `probectl stats` adds when some operation recorded per-call deltas.
    static func memoryHeader(_ s: StatsReport) -> [String]? {
        s.operations.contains { ($0.memDeltaCalls ?? 0) > 0 } ? ["MEMΔ MEAN", "MEMΔ MAX", "MEMΔ TOTAL"] : nil
    }

    static func memoryCells(_ r: OperationRow) -> [String] {
        guard (r.memDeltaCalls ?? 0) > 0 else { return ["-", "-", "-"] }
        return [r.memDeltaMeanBytes.map(Double.init), r.memDeltaMaxBytes.map(Double.init), r.memDeltaTotalBytes.map(Double.init)]
            .map { $0.map(Format.signedBytes) ?? "-" }
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
        case ..<1_099_511_627_776: return fixed(v / 1_073_741_824) + "GiB"
        case ..<1_125_899_906_842_624: return fixed(v / 1_099_511_627_776) + "TiB"
        case ..<1_152_921_504_606_846_976: return fixed(v / 1_125_899_906_842_624) + "PiB"
        default: return fixed(v / 1_152_921_504_606_846_976) + "EiB"
        }
    }
}
