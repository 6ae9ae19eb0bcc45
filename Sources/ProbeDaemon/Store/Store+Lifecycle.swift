import ProbeStatistics

/// Processes come and go; what probed holds follows the live ones.
///
/// A client process (service, pid) is live while one of its connections is. Once it has been gone
/// for the retention (`--exited-retention`, `MemoryOptions.exitedRetention`, default 10 min):
/// - its series fold into one *retired aggregate* per (service, operation) (`Series.absorb`):
///   merged rows, every window and every Prometheus counter read what they read before, and keep
///   growing only with live processes' calls; its per-process state is freed;
/// - its connection records leave `probectl status` and `probectl procs`, with their memory
///   histories; the events they reported dropped stay in the daemon's total.
/// When `--max-series` is reached, the series of processes already gone fold at once, those gone
/// longest first, before a live process's new series is refused (Store+SeriesCap.swift).
/// The store holds no thread: the state keeper calls `retireExited()` every second.
extension Store {
    /// A client process: the kernel's pid and the service it named in HELLO.
    struct ProcessKey: Hashable, Sendable {
        var service: String
        var pid: Int32
    }

    /// What the store knows of a process's life: held while it is connected and for the
    /// retention after it went.
    struct ProcessLife: Sendable {
        /// Its connections that are connected now.
        var connections = 0
        /// When its last connection closed (daemon clock); nil while connected.
        var goneAt: UInt64?
        /// Operations it has a series of.
        var operations: Set<String> = []
    }

    /// Connection `id` said HELLO: its process is live.
    func arrived(_ id: ConnectionID) {
        guard let c = clients[id], let service = c.service else { return }
        let key = ProcessKey(service: service, pid: c.pid)
        var life = processes[key] ?? ProcessLife()
        life.connections += 1
        life.goneAt = nil
        processes[key] = life
        adoptRestored(key, into: id)
    }

    /// Connection `id`, connected until now, closed or was refused. When it was its process's
    /// last, the process's series stop being live.
    func departed(_ id: ConnectionID, now: UInt64) {
        guard let c = clients[id], c.state == "connected", let service = c.service else { return }
        let key = ProcessKey(service: service, pid: c.pid)
        guard var life = processes[key] else { return }
        life.connections = max(0, life.connections - 1)
        if life.connections == 0 {
            life.goneAt = now
            for operation in life.operations {
                series[SeriesKey(service: service, pid: c.pid, operation: operation)]?.live = false
            }
            foldableGeneration &+= 1
        }
        processes[key] = life
    }

    /// Records that `key` has a series of `operation` (a DEFINE that got one).
    func noteOperation(_ key: ProcessKey, _ operation: String) {
        processes[key, default: ProcessLife()].operations.insert(operation)
    }

    /// Folds the series of processes gone longer than the retention and forgets their connection
    /// records. Called every second by the state keeper; cheap when nothing is due.
    public func retireExited() {
        let now = clock.now()
        let retention = configuration.memory.exitedRetention
        let due = processes.filter { _, life in life.connections == 0 && life.goneAt.map { now &- $0 >= retention } ?? false }
        for (key, _) in due {
            retire(key, now: now)
            processes[key] = nil
        }
        forgetExitedClients(now: now, retention: retention)
    }

    /// Folds every series of process `key` into its operations' retired aggregates.
    func retire(_ key: ProcessKey, now: UInt64) {
        guard var life = processes[key], !life.operations.isEmpty else { return }
        for operation in life.operations {
            guard let s = series.removeValue(forKey: SeriesKey(service: key.service, pid: key.pid, operation: operation)) else { continue }
            let retiredKey = SeriesKey.retired(service: key.service, operation: operation)
            let aggregate = series[retiredKey] ?? Series.retiredAggregate(service: key.service, operation: operation, now: s.firstSeen, warmup: configuration.warmup)
            aggregate.absorb(s, now: now)
            series[retiredKey] = aggregate
        }
        life.operations = []
        processes[key] = life
        retiredProcesses &+= 1
    }

    /// Forgets connection records closed longer than the retention ago, with their memory and GPU
    /// histories. The events a process reported dropped stay counted (`retiredDroppedEvents`):
    /// its records' largest count leaves the per-process figures and joins the daemon's total.
    func forgetExitedClients(now: UInt64, retention: UInt64) {
        var gone: Set<ProcessKey> = []
        var forgotten: [ConnectionID] = []
        for (id, c) in clients where c.state != "connected" {
            guard let at = c.disconnectedAt, now &- at >= retention else { continue }
            gone.insert(ProcessKey(service: c.service ?? "", pid: c.pid))
            forgotten.append(id)
        }
        guard !forgotten.isEmpty else { return }
        func largestDrops() -> [ProcessKey: UInt64] {
            var largest: [ProcessKey: UInt64] = [:]
            for c in clients.values {
                let key = ProcessKey(service: c.service ?? "", pid: c.pid)
                if gone.contains(key) { largest[key] = max(largest[key] ?? 0, c.droppedReported) }
            }
            return largest
        }
        let before = largestDrops()
        for id in forgotten {
            clients[id] = nil
            memory[id] = nil
            gpu.processes[id] = nil
        }
        let after = largestDrops()
        // Drop counts are what clients claim (any 64-bit value): the total saturates, never wraps.
        for (key, dropped) in before { retiredDroppedEvents = retiredDroppedEvents.saturatingAdd(dropped &- min(dropped, after[key] ?? 0)) }
    }

    /// Makes room under `--max-series` by folding, at once, the series of processes that are
    /// gone (those gone longest first) until one more series fits. Folds nothing, and returns
    /// false, when folding them all would not make room (each operation's retired aggregate is a
    /// series too): a process folded for nothing would lose its own rows.
    func makeRoom() -> Bool {
        // Nothing changed since the last search found nothing to fold: skip it (a flood of names
        // past the cap would otherwise search once per name).
        guard fruitlessRoomSearch != foldableGeneration else { return false }
        let candidates = processes.filter { $0.value.connections == 0 && !$0.value.operations.isEmpty }
            .sorted { ($0.value.goneAt ?? 0, $0.key.service, $0.key.pid) < ($1.value.goneAt ?? 0, $1.key.service, $1.key.pid) }
        var folded = 0
        var aggregates = Set<SeriesKey>()
        for (key, life) in candidates {
            for operation in life.operations where series[SeriesKey(service: key.service, pid: key.pid, operation: operation)] != nil {
                folded += 1
                let retiredKey = SeriesKey.retired(service: key.service, operation: operation)
                if series[retiredKey] == nil { aggregates.insert(retiredKey) }
            }
        }
        guard series.count - folded + aggregates.count < configuration.maxSeries else {
            fruitlessRoomSearch = foldableGeneration
            return false
        }
        let now = clock.now()
        for (key, _) in candidates where series.count >= configuration.maxSeries {
            retire(key, now: now)
        }
        return series.count < configuration.maxSeries
    }

    /// A process that reconnects after probed restarted: its restored connection record (from the
    /// state file) joins the new connection — events received, drops reported, memory and GPU
    /// history — so its figures and leak watch continue where they were.
    func adoptRestored(_ key: ProcessKey, into id: ConnectionID) {
        let restored = clients.filter { $0.value.state == "restored" && $0.value.service == key.service && $0.value.pid == key.pid }
        guard !restored.isEmpty, var client = clients[id] else { return }
        for (old, record) in restored.sorted(by: { $0.value.connectedAt < $1.value.connectedAt }) {
            client.eventsReceived = client.eventsReceived.saturatingAdd(record.eventsReceived)
            client.droppedReported = max(client.droppedReported, record.droppedReported)
            if memory[id] == nil, let m = memory[old] { memory[id] = m }
            if gpu.processes[id] == nil, let g = gpu.processes[old] { gpu.processes[id] = g }
            clients[old] = nil
            memory[old] = nil
            gpu.processes[old] = nil
        }
        clients[id] = client
    }
}
