import ProbeControl

extension CLI {
    /// `probectl gpu`: one block per device with its figures and the processes on it, or why
    /// there are no GPU figures.
    public static func render(gpu g: GPUReport, width: Int? = nil) -> String {
        guard g.available else {
            return Format.wrap("no GPU figures: \(g.reason ?? "NVML is not available")\n"
                + "(probed loads NVIDIA's NVML, libnvidia-ml.so.1, at start; name another file with probed --nvml-library PATH)", width: width)
        }
        if let error = g.error { return Format.wrap("NVML is loaded (\(g.library ?? "?")) but cannot count devices: \(error)", width: width) }
        guard !g.devices.isEmpty else { return Format.wrap("NVML is loaded (\(g.library ?? "?")) and reports no GPUs", width: width) }
        var blocks: [String] = []
        for d in g.devices {
            var lines = ["GPU \(d.index): \(d.name ?? "-")  \(d.uuid ?? "-")"]
            let reserved = d.memoryReservedBytes.map { ", \(Format.bytes($0)) reserved" } ?? ""
            let memory = d.memoryTotalBytes == nil ? "-"
                : "\(Format.bytes(d.memoryUsedBytes)) used of \(Format.bytes(d.memoryTotalBytes))\(reserved), \(Format.bytes(d.memoryFreeBytes)) free"
            let utilization = d.utilizationGpuPercent.map { "\($0)% gpu, \(d.utilizationMemoryPercent.map { "\($0)%" } ?? "-") memory" } ?? "not reported"
            let reasons = d.clocksEventReasons.map { $0.isEmpty ? "nothing holds them back" : "held back by " + $0.joined(separator: ", ") }
            lines.append("  memory       \(memory)")
            lines.append("  utilization  \(utilization)")
            lines.append("  temperature  \(d.temperatureCelsius.map { "\($0) °C" } ?? "-")    power \(d.powerWatts.map { Format.decimal($0, 1) + " W" } ?? "-")")
            lines.append("  clocks       SM \(d.smClockMhz.map { "\($0) MHz" } ?? "-")\(reasons.map { "; " + $0 } ?? "")")
            for (query, e) in d.errors.sorted(by: { $0.key < $1.key }) { lines.append("  ! \(query): \(e)") }
            if let processes = d.processes {
                if processes.isEmpty {
                    lines.append("  no compute processes")
                } else {
                    var t = TextTable(["PID", "SERVICE", "GPU MEMORY"], rightAligned: [0, 2], fit: [.shrink("SERVICE", to: 6)])
                    for p in processes { t.add([String(p.pid), p.service ?? "-", Format.bytes(p.memoryUsedBytes)]) }
                    lines.append(t.render(width: width.map { $0 - 2 }).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
                }
            }
            // A device's figures clipped to the terminal, never wrapped.
            let text = lines.joined(separator: "\n")
            blocks.append(width.map { w in text.split(separator: "\n", omittingEmptySubsequences: false).map { Format.shorten(String($0), to: w, .end) }.joined(separator: "\n") } ?? text)
        }
        let driver = g.driverVersion.map { ", driver \($0)" } ?? ""
        return blocks.joined(separator: "\n\n") + "\n"
            + Format.wrap("(sampled every \(Format.duration(g.sampleIntervalNs)) from \(g.library ?? "NVML")\(driver))", width: width)
    }

    /// Footnotes for `probectl stats`: the warnings of each operation, marked `!` in the table.
    static func warningNotes(_ s: StatsReport) -> String {
        let notes = s.operations.filter { $0.pid == nil && $0.merged != false && !($0.warnings ?? []).isEmpty }
            .flatMap { r in r.warnings!.map { "! \(r.service) \(r.operation): \($0)".escapingControlCharacters() } }
        return notes.isEmpty ? "" : "\n" + notes.joined(separator: "\n")
    }

    /// `procs` cells for a process's device memory, its growth and leak verdict.
    static func gpuCells(_ r: ProcessMemoryRow) -> [String] {
        [Format.bytes(r.gpuMemoryBytes), r.gpuMemoryGrowthBytesPerMin.map { Format.signedBytes($0) } ?? "-",
         r.gpuLeakSuspected.map { $0 ? "SUSPECTED" : "no" } ?? "-"]
    }

    static func warningMark(_ r: OperationRow) -> String { (r.warnings ?? []).isEmpty ? "" : " !" }
}
