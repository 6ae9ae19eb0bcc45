import Foundation
import ProbeControl
import ProbePosix
import Testing

/// The samples of a Prometheus text exposition (label values unescaped).
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var name = "", labels: [String: String] = [:]
            var i = line.startIndex
            while i < line.endIndex && line[i] != "{" && line[i] != " " { name.append(line[i]); i = line.index(after: i) }
            if i < line.endIndex && line[i] == "{" {
                i = line.index(after: i)
                while i < line.endIndex && line[i] != "}" {
                    var key = ""
                    while line[i] != "=" { key.append(line[i]); i = line.index(after: i) }
                    i = line.index(i, offsetBy: 2)  // ="
                    var value = ""
                    while line[i] != "\"" {
                        if line[i] == "\\" {
                            i = line.index(after: i)
                            value.append(line[i] == "n" ? "\n" : line[i])
                        } else {
                            value.append(line[i])
                        }
                        i = line.index(after: i)
                    }
                    labels[key] = value
                    i = line.index(after: i)
                    if line[i] == "," { i = line.index(after: i) }
                }
                i = line.index(after: i)
            }
            guard let value = Double(line[i...].trimmingCharacters(in: .whitespaces)) else { continue }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        let found = samples.filter { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }
        return found.count == 1 ? found[0].value : nil
    }
}

@Suite(.serialized) struct FleetMetricsTests {
    /// Issue 18's acceptance: with the NVML test double and a leaking client, one scrape holds the
    /// process, GPU and operation metrics with exactly the values probectl shows, and passes
    /// `promtool check metrics`. probectl and the scrape are read between two scrapes that agree,
    /// so no memory sample fell between them.
    @Test func oneScrape_holdsProcessGPUAndOperationMetrics_withTheValuesProbectlShows() throws {
        let promtool = try requireTool("promtool")
        let g = try GPUDaemon(library: try FakeNVML.library(), script: twoDevices, sampleInterval: "1s",
                              arguments: ["--metrics-listen", "127.0.0.1:0", "--warmup", "0"])
        let (daemon, script) = (g.daemon, g.script)
        defer { daemon.stop() }
        let port = try daemon.metricsPort()
        let leaker = try ChildProcess(Products.path("probe-leak-fixture"),
                                      ["--socket", daemon.socket, "--service", "leaky", "--mode", "leak", "--seconds", "120"])
        defer { leaker.kill() }
        let durations = daemon.directory.file("durations.txt")
        try Array(repeating: "1000000", count: 10).joined(separator: "\n").write(toFile: durations, atomically: true, encoding: .utf8)
        let gpuClient = try ChildProcess(Products.path("probe-fixture"), [
            "--socket", daemon.socket, "--service", "gpu-svc", "--operation", "launch", "--durations", durations,
            "--synced-operation", "infer", "--synced-calls", "20", "--linger", "120",
        ])
        defer { gpuClient.kill() }
        // Slow calls (over 50 ms) and items, from a client that exits once they are delivered. The
        // 1 ms calls stay far under the threshold even when a loaded, sanitized run delays them.
        let calls = daemon.directory.file("calls.txt")
        try "80 16 16x3 ok\n1 4 4x3 ok\n1 8 8x3 bad_input\n120 32 32x3 ok\n".write(toFile: calls, atomically: true, encoding: .utf8)
        let slow = try run(Products.path("probe-slow-fixture"),
                           ["--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--calls", calls, "--slow-threshold-ms", "50"])
        #expect(slow.status == 0, "\(slow.stdout) \(slow.stderr)")
        // The leaker's device memory grows 2 MiB a second from 1 GiB; the other client holds 512 MiB.
        try (twoDevices + "process 0 \(leaker.pid) 1073741824 +2097152\nprocess 0 \(gpuClient.pid) 536870912\n")
            .write(toFile: script, atomically: true, encoding: .utf8)

        // Both leak verdicts, resident and device (about 20 s of samples).
        let start = Date()
        var flagged = false
        while !flagged && Date().timeIntervalSince(start) < 90 {
            let row = try daemon.procs().processes.first { $0.pid == leaker.pid }
            flagged = row?.leakSuspected == true && row?.gpuLeakSuspected == true
            if !flagged { Thread.sleep(forTimeInterval: 1) }
        }
        print("leaker flagged (resident and GPU) after \(String(format: "%.1f", Date().timeIntervalSince(start))) s: \(flagged)")
        let last = try daemon.procs().processes
        try #require(flagged, "the leaking client was not flagged: \(last)")

        // Memory and GPU gauges change only when probed samples (every second): read probectl
        // between two scrapes whose gauges agree.
        func gauges(_ text: String) -> [Substring] {
            text.split(separator: "\n").filter { $0.hasPrefix("probe_gpu_") || ($0.hasPrefix("probe_process_") && !$0.contains("_total")) }
        }
        var scrape = "", procs: ProcsReport? = nil, gpu: GPUReport? = nil, stats: StatsReport? = nil
        for _ in 0..<30 {
            let a = try httpGet(port: port, "/metrics").body
            let (p, gr, s) = (try daemon.procs(), try daemon.gpu(), try daemon.stats())
            let b = try httpGet(port: port, "/metrics").body
            if gauges(a) == gauges(b) && !gauges(a).isEmpty {
                (scrape, procs, gpu, stats) = (a, p, gr, s)
                break
            }
        }
        let (p, gr, s) = (try #require(procs, "no two scrapes agreed"), try #require(gpu), try #require(stats))
        let m = Exposition(scrape)
        print(gauges(scrape).joined(separator: "\n"))

        // Per connected process, exactly procs' figures (its growth per minute, rounded to bytes, / 60).
        for pid in [leaker.pid, gpuClient.pid] {
            let row = try #require(p.processes.first { $0.pid == pid })
            let labels = ["service": row.service, "pid": String(pid)]
            #expect(m.value("probe_process_resident_memory_bytes", labels) == row.rssBytes.map { Double($0) })
            #expect(m.value("probe_process_anonymous_memory_bytes", labels) == row.rssAnonBytes.map { Double($0) })
            #expect(m.value("probe_process_resident_memory_peak_bytes", labels) == row.rssPeakBytes.map { Double($0) })
            #expect(m.value("probe_process_swap_bytes", labels) == row.swapBytes.map { Double($0) })
            #expect(m.value("probe_process_memory_leak_suspected", labels) == (row.leakSuspected ? 1 : 0))
            let growth = m.value("probe_process_memory_growth_bytes_per_second", labels)
            #expect((growth == nil) == (row.rssGrowthBytesPerMin == nil))
            if let growth, let perMinute = row.rssGrowthBytesPerMin { #expect(abs(growth * 60 - perMinute) <= 0.5, "\(growth) vs \(perMinute)") }
            #expect(m.value("probe_process_gpu_memory_bytes", labels) == row.gpuMemoryBytes.map { Double($0) })
            #expect(m.value("probe_process_gpu_memory_leak_suspected", labels) == row.gpuLeakSuspected.map { $0 ? 1 : 0 })
            let gpuGrowth = m.value("probe_process_gpu_memory_growth_bytes_per_second", labels)
            #expect((gpuGrowth == nil) == (row.gpuMemoryGrowthBytesPerMin == nil))
            if let gpuGrowth, let perMinute = row.gpuMemoryGrowthBytesPerMin { #expect(abs(gpuGrowth * 60 - perMinute) <= 0.5) }
        }
        let leaky = try #require(p.processes.first { $0.pid == leaker.pid })
        #expect(m.value("probe_process_memory_leak_suspected", ["pid": String(leaker.pid)]) == 1)
        #expect(m.value("probe_process_gpu_memory_leak_suspected", ["pid": String(leaker.pid)]) == 1)
        #expect(m.value("probe_process_gpu_memory_leak_suspected", ["pid": String(gpuClient.pid)]) == 0)
        #expect((leaky.gpuMemoryGrowthBytesPerMin ?? 0) > 60 * 1_048_576)

        // Per GPU, exactly probectl gpu's figures.
        #expect(gr.devices.count == 2)
        for d in gr.devices {
            let labels = ["gpu": String(d.index), "uuid": d.uuid ?? "", "model": d.name ?? ""]
            #expect(m.value("probe_gpu_memory_total_bytes", labels) == d.memoryTotalBytes.map { Double($0) })
            #expect(m.value("probe_gpu_memory_used_bytes", labels) == d.memoryUsedBytes.map { Double($0) })
            #expect(m.value("probe_gpu_memory_reserved_bytes", labels) == d.memoryReservedBytes.map { Double($0) })
            #expect(m.value("probe_gpu_memory_free_bytes", labels) == d.memoryFreeBytes.map { Double($0) })
            #expect(m.value("probe_gpu_utilization_ratio", labels) == d.utilizationGpuPercent.map { Double($0) / 100 })
            #expect(m.value("probe_gpu_memory_utilization_ratio", labels) == d.utilizationMemoryPercent.map { Double($0) / 100 })
            #expect(m.value("probe_gpu_temperature_celsius", labels) == d.temperatureCelsius.map { Double($0) })
            #expect(m.value("probe_gpu_power_watts", labels) == d.powerWatts)
            #expect(m.value("probe_gpu_sm_clock_hertz", labels) == d.smClockMhz.map { Double($0) * 1e6 })
            let reasons = m.samples.filter { $0.name == "probe_gpu_clocks_event_reason" && $0.labels["gpu"] == String(d.index) }
            #expect(reasons.count == 10 && Set(reasons.filter { $0.value == 1 }.compactMap { $0.labels["reason"] }) == Set(d.clocksEventReasons ?? []))
        }
        #expect(m.value("probe_gpu_clocks_event_reason", ["gpu": "0", "reason": "sw_power_cap"]) == 1)

        // Per (service, operation), the merged rows of probectl stats (no pid).
        for (service, operation) in [("ranker", "predict"), ("gpu-svc", "launch"), ("gpu-svc", "infer")] {
            let row = try #require(s.operations.first { $0.service == service && $0.operation == operation && $0.pid == nil })
            let labels = ["service": service, "operation": operation]
            #expect(m.value("probe_calls_total", labels) == Double(row.calls))
            #expect(m.value("probe_failures_total", labels) == Double(row.errors))
            #expect(m.value("probe_slow_calls_total", labels) == row.slowCalls.map { Double($0) })
            #expect(m.value("probe_items_total", labels) == row.items.map { Double($0) })
            #expect(m.value("probe_device_synchronized_calls_total", labels) == row.synchronizedCalls.map { Double($0) })
            #expect(m.samples.filter { $0.name.hasPrefix("probe_") && $0.labels["operation"] == operation && $0.labels["pid"] == nil }.isEmpty == false)
        }
        #expect(m.value("probe_slow_calls_total", ["service": "ranker"]) == 2 && m.value("probe_items_total", ["service": "ranker"]) == 60)
        #expect(m.value("probe_device_synchronized_calls_total", ["service": "gpu-svc", "operation": "infer"]) == 20)
        // No pid on any per-operation family.
        #expect(m.samples.filter { ["probe_slow_calls_total", "probe_items_total", "probe_device_synchronized_calls_total"].contains($0.name) }
            .allSatisfy { $0.labels["pid"] == nil })

        let dir = TemporaryDirectory()
        try scrape.write(toFile: dir.file("metrics.txt"), atomically: true, encoding: .utf8)
        let check = try run("/bin/sh", ["-c", "\"$0\" check metrics < \"$1\"", promtool, dir.file("metrics.txt")])
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)\n\(scrape)")
        print("one scrape: \(scrape.utf8.count) bytes, \(m.samples.count) samples; promtool check metrics exit \(check.status)")
    }
}
