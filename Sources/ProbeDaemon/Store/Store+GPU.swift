import ProbeStatistics

/// What probed knows about GPUs: whether NVML is there (and why not), the last round of
/// readings, and each client process's device memory history (leak detection as for RSS).
struct GPUState: Sendable {
    var available = false
    var reason: String? = "GPU sampling is not running"
    var library: GPULibrary?
    var snapshot: GPUSnapshot?
    /// Device memory per pid in the last round, for every process on some device (bytes nil
    /// when NVML withheld the figure): presence means the process holds a device context.
    var holdings: [Int32: GPUHolding] = [:]
    var processes: [ConnectionID: ProcessGPUMemory] = [:]
}

/// The NVML library loaded, and which of its entry points and layouts probed uses.
public struct GPULibrary: Sendable {
    public var path: String
    /// nvmlSystemGetDriverVersion; nil when it failed.
    public var driverVersion: String?
    public var processesFunction: String?
    /// Bytes per process entry the listing is read with (16, 24 or 32).
    public var processEntryBytes: Int
    public var memoryFunction: String?
    public var clocksEventReasonsFunction: String?

    public init(path: String, driverVersion: String? = nil, processesFunction: String? = nil, processEntryBytes: Int = 24,
                memoryFunction: String? = nil, clocksEventReasonsFunction: String? = nil) {
        self.path = path
        self.driverVersion = driverVersion
        self.processesFunction = processesFunction
        self.processEntryBytes = processEntryBytes
        self.memoryFunction = memoryFunction
        self.clocksEventReasonsFunction = clocksEventReasonsFunction
    }
}

/// One client process's device memory (summed over devices) over time.
struct ProcessGPUMemory: LeakWatch, Sendable {
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

    public func recordGPULoaded(_ library: GPULibrary) {
        gpu.available = true
        gpu.reason = nil
        gpu.library = library
    }

    /// Stores one NVML round and adds each connected client's device memory to its history
    /// (0 when every device listed its processes and the client was not among them). A client
    /// whose figure NVML withheld (NVML_VALUE_NOT_AVAILABLE) holds an unknown amount: its latest
    /// figure becomes nil and its history gets no sample. Returns each suspicion of a
    /// device-memory leak that began or ended (the sampler logs them).
    func recordGPU(_ round: GPUSnapshot) -> [LeakChange] {
        let now = clock.now()
        var snapshot = round
        snapshot.time = now
        gpu.snapshot = snapshot
        gpu.holdings = snapshot.holdings
        let complete = snapshot.processesComplete
        let detector = leakDetector
        var changes: [LeakChange] = []
        for (id, c) in clients where c.state == "connected" && c.service != nil {
            guard let holding = gpu.holdings[c.pid] ?? (complete ? GPUHolding(bytes: 0) : nil) else { continue }
            var m = gpu.processes[id] ?? ProcessGPUMemory(capacity: configuration.memory.historyCapacity)
            m.latest = holding.bytes
            guard let bytes = holding.bytes else {
                gpu.processes[id] = m
                continue
            }
            m.history.append(MemorySample(time: now, bytes: bytes))
            if let began = m.reassess(now: now, detector: detector, window: configuration.memory.leakWindow), let a = m.assessment {
                changes.append(LeakChange(service: c.service ?? "?", pid: c.pid, began: began, assessment: a))
            }
            gpu.processes[id] = m
        }
        for id in gpu.processes.keys {
            // Exited processes stay as long as their resident-memory history does.
            guard let c = clients[id] else { gpu.processes[id] = nil; continue }
            if let gone = c.disconnectedAt, now &- gone > configuration.memory.exitedRetention { gpu.processes[id] = nil }
        }
        return changes
    }

    /// The client service of each pid, connected clients first (a pid may have been reused).
    func servicesByPid() -> [Int32: String] {
        var out: [Int32: String] = [:]
        for c in clients.values where c.service != nil && c.state != "connected" { out[c.pid] = c.service }
        for c in clients.values where c.service != nil && c.state == "connected" { out[c.pid] = c.service }
        return out
    }

    /// What `probectl gpu` shows: whether NVML is there, the last round of readings, and the
    /// client service of each pid.
    func gpuSnapshot() -> GPUReportSnapshot {
        GPUReportSnapshot(now: clock.now(), sampleInterval: configuration.memory.sampleInterval, gpu: gpu, services: servicesByPid())
    }
}

/// NVML's state and last round (Control/GPUJSON.swift renders them).
struct GPUReportSnapshot: Sendable {
    /// Daemon clock (monotonic ns) when the snapshot was taken.
    var now: UInt64
    var sampleInterval: UInt64
    var gpu: GPUState
    /// The client service of each pid, connected clients first (a pid may have been reused).
    var services: [Int32: String]
}
