import ProbeStatistics
import ProbeWire

extension Store {
    var leakDetector: LeakDetector {
        LeakDetector(
            thresholdBytesPerMinute: configuration.memory.leakThresholdBytesPerMinute,
            windowSeconds: Double(configuration.memory.leakWindow) / 1e9)
    }

    /// The processes the sampler reads next: every connected client that has said HELLO.
    public func memoryTargets() -> [(ConnectionID, Int32)] {
        clients.compactMap { id, c in c.state == "connected" && c.service != nil ? (id, c.pid) : nil }
    }

    /// Stores one round of readings (nil: the read failed), re-assesses each process at most once
    /// a second, and forgets exited processes past their retention. Returns each suspicion of a
    /// leak that began or ended (the sampler logs them).
    func recordMemorySamples(_ readings: [(ConnectionID, ProcStatus?)]) -> [LeakChange] {
        let now = clock.now()
        let detector = leakDetector
        var changes: [LeakChange] = []
        for (id, reading) in readings {
            guard let client = clients[id] else { continue }
            var m = memory[id] ?? ProcessMemory(capacity: configuration.memory.historyCapacity)
            if let reading {
                m.latest = reading
                m.history.append(MemorySample(time: now, bytes: reading.ownedBytes))
                m.rssHistory.append(MemorySample(time: now, bytes: reading.rssBytes))
                m.samplesTaken &+= 1
            } else {
                m.sampleFailures &+= 1
            }
            if let began = m.reassess(now: now, detector: detector, window: configuration.memory.leakWindow), let a = m.assessment {
                changes.append(LeakChange(service: client.service ?? "?", pid: client.pid, began: began, assessment: a))
            }
            memory[id] = m
        }
        forgetExitedMemory(now: now)
        return changes
    }

    /// Drops the history of processes that exited longer ago than the retention.
    func forgetExitedMemory(now: UInt64) {
        for (id, c) in clients where c.state != "connected" {
            if let gone = c.disconnectedAt, now &- gone > configuration.memory.exitedRetention, memory[id] != nil {
                memory[id] = nil
            }
        }
    }

    /// Adds a MEMORY message's deltas to their series; the ingest side has checked the operation ids.
    func ingestMemoryDeltas(_ records: [MemoryDeltaRecord], droppedTotal: UInt64, on id: ConnectionID) {
        guard let client = clients[id] else { return }
        for r in records {
            let index = Int(r.operationID)
            guard index < client.operations.count, let s = client.operations[index] else { continue }
            s.memory.add(r.deltaBytes)
        }
        var m = memory[id] ?? ProcessMemory(capacity: configuration.memory.historyCapacity)
        m.deltasDropped = max(m.deltasDropped, droppedTotal)
        memory[id] = m
    }

    /// What `probectl procs` shows: every client process connected or recently exited, with its
    /// memory and the leak trend fitted afresh over the whole window.
    func procsSnapshot() -> ProcsSnapshot {
        let now = clock.now()
        let options = configuration.memory
        let detector = leakDetector
        var processes: [ProcsSnapshot.Process] = []
        for (id, c) in clients {
            guard let record = c.record else { continue }
            if c.state != "connected", let gone = c.disconnectedAt, now &- gone > options.exitedRetention { continue }
            let m = memory[id], g = gpu.processes[id]
            processes.append(ProcsSnapshot.Process(
                id: id, connection: record, memory: m, assessment: m.map { $0.latestAssessment(detector, window: options.leakWindow) },
                rssTrend: m.flatMap { $0.rssTrend(detector, window: options.leakWindow) },
                gpu: g, gpuAssessment: g.map { $0.latestAssessment(detector, window: options.leakWindow) }))
        }
        processes.sort { ($0.connection.service, $0.connection.pid, $0.id) < ($1.connection.service, $1.connection.pid, $1.id) }
        return ProcsSnapshot(now: now, options: options, processes: processes)
    }
}

/// Client processes and their memory (Control/ProcsJSON.swift renders them).
struct ProcsSnapshot: Sendable {
    struct Process: Sendable {
        var id: ConnectionID
        var connection: ConnectionRecord
        /// Resident memory; nil before the first sample.
        var memory: ProcessMemory?
        /// The leak verdict, on owned memory (anonymous + swap).
        var assessment: LeakDetector.Assessment?
        /// The trend of VmRSS over the same window, for context (file-backed pages included).
        var rssTrend: MemoryTrend?
        /// Device memory; nil where NVML is absent or the process was never sampled on it.
        var gpu: ProcessGPUMemory?
        var gpuAssessment: LeakDetector.Assessment?
    }

    /// Daemon clock (monotonic ns) when the snapshot was taken.
    var now: UInt64
    var options: MemoryOptions
    /// Sorted by service, pid, connection.
    var processes: [Process]
}
