import ProbePosix
import ProbeStatistics

/// Everything a Prometheus scrape needs, copied out of the store in one short actor turn (the
/// histograms are copy-on-write values, so copying them costs a reference count each). Merging
/// and formatting happen afterwards, on the scraping thread, while ingest goes on.
public struct MetricsSnapshot: Sendable {
    public struct Operation: Sendable {
        public var service: String
        public var operation: String
        public var pid: Int32
        /// The series' process is connected now (per-process series are exposed only for those).
        public var connected: Bool
        public var calls: UInt64
        public var failures: UInt64
        public var warmup: UInt64
        /// Slow calls (CALL_DETAILs flagged slow), items (batch sizes), and calls whose timing
        /// waited for the device, since the series began.
        public var slowCalls: UInt64 = 0
        public var items: UInt64 = 0
        public var synchronizedCalls: UInt64 = 0
        /// Successful calls past warm-up, in nanoseconds.
        public var latency: Histogram
    }

    /// A connected client process: (service, pid), its connections' figures combined.
    public struct Process: Sendable {
        public var service: String
        public var pid: Int32
        public var eventsReceived: UInt64
        public var droppedEvents: UInt64
        /// The memory history and device-memory history of its connected connection (value
        /// copies: the trend is fitted when the scrape renders, outside the store).
        var memory: ProcessMemory?
        var gpu: ProcessGPUMemory?
    }

    public var operations: [Operation] = []
    public var processes: [Process] = []
    public var eventsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var messagesReceived: UInt64 = 0
    public var messagesRejected: UInt64 = 0
    /// `--max-series` refusals: new series refused, and the events that named them.
    public var seriesRefused: UInt64 = 0
    public var eventsRefused: UInt64 = 0
    /// Client-reported drops, every process since probed started (and, with a state directory,
    /// since the state began), forgotten processes' included.
    public var droppedEvents: UInt64 = 0
    public var connectedProcesses = 0
    public var series = 0
    public var warmup = 0
    /// Unix time probed started, in seconds.
    public var startTimeSeconds: Double = 0
    /// The leak detector and window `probectl procs` judges memory with.
    var leakDetector = LeakDetector()
    var leakWindow: UInt64 = 0
    /// Whether NVML is loaded, and its last round (nil before one, or without NVML).
    var gpuAvailable = false
    var gpu: GPUSnapshot?
}

extension Store {
    /// The state a scrape renders; cheap enough to take while ingest is busy (no formatting here).
    public func metricsSnapshot() -> MetricsSnapshot {
        var s = MetricsSnapshot()
        struct ProcessKey: Hashable { var service: String; var pid: Int32 }
        // A process may have connected several times (probed or the client restarted): its
        // events add up; its drop count is cumulative on the client side, so take the largest.
        var all: [ProcessKey: MetricsSnapshot.Process] = [:]
        var connected = Set<ProcessKey>()
        for (id, c) in clients {
            guard let service = c.service else { continue }
            let key = ProcessKey(service: service, pid: c.pid)
            var p = all[key] ?? MetricsSnapshot.Process(service: service, pid: c.pid, eventsReceived: 0, droppedEvents: 0)
            p.eventsReceived = p.eventsReceived.saturatingAdd(c.eventsReceived)
            p.droppedEvents = max(p.droppedEvents, c.droppedReported)
            if c.state == "connected" {
                connected.insert(key)
                p.memory = memory[id]
                p.gpu = gpu.processes[id]
            }
            all[key] = p
        }
        s.processes = connected.compactMap { all[$0] }
        // Drop counts are what clients claim: the total saturates, so the counter never goes back.
        s.droppedEvents = all.values.lazy.map(\.droppedEvents).reduce(retiredDroppedEvents) { $0.saturatingAdd($1) }
        s.connectedProcesses = connected.count
        s.operations.reserveCapacity(series.count)
        for x in series.values {
            s.operations.append(MetricsSnapshot.Operation(
                service: x.key.service, operation: x.key.operation, pid: x.key.pid,
                connected: connected.contains(ProcessKey(service: x.key.service, pid: x.key.pid)),
                calls: x.calls, failures: x.errors, warmup: x.warmup, slowCalls: x.slowCalls, items: x.items.total,
                synchronizedCalls: x.synchronizedCalls, latency: x.windows.lifetimeLatency))
        }
        s.leakDetector = leakDetector
        s.leakWindow = configuration.memory.leakWindow
        s.gpuAvailable = gpu.available
        s.gpu = gpu.available ? gpu.snapshot : nil
        s.series = series.count
        s.eventsReceived = eventsReceived
        s.bytesReceived = bytesReceived
        s.messagesReceived = messagesReceived
        s.messagesRejected = messagesRejected
        s.seriesRefused = seriesRefused
        s.eventsRefused = eventsRefused
        s.warmup = configuration.warmup
        let uptime = clock.now() &- startedAt
        s.startTimeSeconds = Double(wallClockNanoseconds() &- min(uptime, wallClockNanoseconds())) / 1e9
        return s
    }
}
