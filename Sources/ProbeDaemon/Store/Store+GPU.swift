import ProbeControl
import ProbeStatistics

/// What probed knows about GPUs: whether NVML is there (and why not), the last round of
/// readings, and each client process's device memory history (leak detection as for RSS).
struct GPUState: Sendable {
    var available = false
    var reason: String? = "GPU sampling is not running"
    var library: String?
    var processesFunction: String?
    var snapshot: GPUSnapshot?
    /// Device memory per pid in the last round, for every process on some device (0 when NVML
    /// withheld the figure): presence means the process holds a device context.
    var memoryByPid: [Int32: UInt64] = [:]
    var processes: [ConnectionID: ProcessGPUMemory] = [:]
}

/// One client process's device memory (summed over devices) over time.
struct ProcessGPUMemory: Sendable {
    var history: MemoryHistory
    var latest: UInt64?
    var assessment: LeakDetector.Assessment?
    var assessedAt: UInt64 = 0
    var suspectedSince: UInt64?
    init(capacity: Int) { history = MemoryHistory(capacity: capacity) }
}

extension Store {
    public func recordGPUUnavailable(reason: String) {
        gpu.available = false
        gpu.reason = reason
    }

    public func recordGPULoaded(library: String, processesFunction: String) {
        gpu.available = true
        gpu.reason = nil
        gpu.library = library
        gpu.processesFunction = processesFunction
    }

    /// Stores one NVML round and adds each connected client's device memory to its history
    /// (0 when every device listed its processes and the client was not among them). Returns a
    /// log line for each suspicion of a device-memory leak that began or ended.
    public func recordGPU(_ round: GPUSnapshot) -> [String] {
        let now = clock.now()
        var snapshot = round
        snapshot.time = now
        gpu.snapshot = snapshot
        gpu.memoryByPid = snapshot.memoryByPid
        let complete = snapshot.processesComplete
        let detector = leakDetector
        var lines: [String] = []
        for (id, c) in clients where c.state == "connected" && c.service != nil {
            guard let bytes = gpu.memoryByPid[c.pid] ?? (complete ? 0 : nil) else { continue }
            var m = gpu.processes[id] ?? ProcessGPUMemory(capacity: configuration.memory.historyCapacity)
            m.latest = bytes
            m.history.append(MemorySample(time: now, rssBytes: bytes))
            if m.assessment == nil || now &- m.assessedAt >= 1_000_000_000 {
                let was = m.assessment?.suspected ?? false
                let a = detector.assess(m.history.since(now &- min(now, configuration.memory.leakWindow)))
                m.assessment = a
                m.assessedAt = now
                let who = "service \(c.service ?? "?") pid \(c.pid)"
                if a.suspected && !was {
                    m.suspectedSince = now
                    let rate = ((a.trend?.slopeBytesPerMinute ?? 0) / 1_048_576 * 100).rounded() / 100
                    lines.append("suspected GPU memory leak: \(who) device memory growing \(rate) MiB/min steadily; see probectl procs")
                } else if !a.suspected && was {
                    m.suspectedSince = nil
                    lines.append("GPU memory leak no longer suspected: \(who) (\(a.verdict))")
                }
            }
            gpu.processes[id] = m
        }
        for id in gpu.processes.keys {
            // Exited processes stay as long as their resident-memory history does.
            guard let c = clients[id] else { gpu.processes[id] = nil; continue }
            if let gone = c.disconnectedAt, now &- gone > configuration.memory.exitedRetention { gpu.processes[id] = nil }
        }
        return lines
    }

    /// The client service of each pid, connected clients first (a pid may have been reused).
    func servicesByPid() -> [Int32: String] {
        var out: [Int32: String] = [:]
        for c in clients.values where c.service != nil && c.state != "connected" { out[c.pid] = c.service }
        for c in clients.values where c.service != nil && c.state == "connected" { out[c.pid] = c.service }
        return out
    }

    /// `probectl gpu --json`.
    public func gpuJSON() -> String {
        let now = clock.now()
        let services = servicesByPid()
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("available", gpu.available)
        w.field("reason", gpu.reason)
        w.field("library", gpu.library)
        w.field("processes_function", gpu.processesFunction)
        w.field("sample_interval_ns", configuration.memory.sampleInterval)
        w.field("sample_age_ns", gpu.snapshot.map { now &- $0.time })
        w.field("error", gpu.snapshot?.countError)
        w.beginArray("devices")
        for d in gpu.available ? gpu.snapshot?.devices ?? [] : [] {
            w.beginObject()
            w.field("index", d.index)
            w.field("name", d.name)
            w.field("uuid", d.uuid)
            w.field("memory_total_bytes", d.memoryTotalBytes)
            w.field("memory_used_bytes", d.memoryUsedBytes)
            w.field("memory_free_bytes", d.memoryFreeBytes)
            w.field("utilization_gpu_percent", d.utilizationGPUPercent)
            w.field("utilization_memory_percent", d.utilizationMemoryPercent)
            w.field("temperature_celsius", d.temperatureCelsius)
            w.field("power_watts", d.powerMilliwatts.map { Double($0) / 1000 })
            w.beginObject("errors")
            for (query, e) in d.errors.sorted(by: { $0.key < $1.key }) { w.field(query, e) }
            w.endObject()
            if let list = d.processes {
                w.beginArray("processes")
                for p in list.sorted(by: { $0.pid < $1.pid }) {
                    w.beginObject()
                    w.field("pid", p.pid)
                    w.field("service", services[p.pid])
                    w.field("memory_used_bytes", p.usedBytes)
                    w.endObject()
                }
                w.endArray()
            } else {
                w.field("processes", String?.none)
            }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// The GPU fields of a `procs` row (connection `id`): all null where NVML is absent or the
    /// process was never sampled on it.
    func writeGPUMemory(of id: ConnectionID, to w: inout JSONWriter) {
        let m = gpu.processes[id]
        let a = m.map { leakDetector.assess($0.history.since(($0.history.last?.time ?? 0) &- min($0.history.last?.time ?? 0, configuration.memory.leakWindow))) }
        w.field("gpu_memory_bytes", m?.latest)
        w.field("gpu_memory_growth_bytes_per_min", a?.trend.map { $0.slopeBytesPerMinute.rounded() })
        w.field("gpu_trend", m == nil ? nil : a?.verdict)
        w.field("gpu_leak_suspected", m == nil ? nil : a?.suspected)
    }
}
