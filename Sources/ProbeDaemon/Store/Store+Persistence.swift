import ProbePosix
import ProbeStatistics

/// The store's side of the state file (State/): an image of what survives a restart, copied out
/// in one actor turn, and put back before the first client connects.
///
/// Time. The daemon's clock is CLOCK_MONOTONIC counted from the Unix epoch as of probed's start
/// (`AnchoredClock`), so the times an image holds are close to wall-clock times. Restoring
/// moves them by the difference between how far the daemon's clock and the wall clock moved
/// since the save, in whole minutes (window slices stay aligned), when it is five minutes or
/// more: normally nothing moves, so a window slice keeps its place in wall time — ten minutes of
/// downtime leave ten minutes of empty seconds, and a call leaves the `1m` window a minute after
/// it was made, not after the restart. A wall clock stepped by five minutes or more between the
/// save and the start moves everything with it.
extension Store {
    /// Connection ids of restored records: far above the ingest side's, which count from 1.
    static let restoredConnectionIDs: ConnectionID = 1 << 62

    /// Everything a state file keeps, but the thresholds (the ingest side holds those), the
    /// writer's version and the boot id (the state keeper adds them). Plain values: copy-on-write
    /// arrays, so copying costs reference counts; encoding happens off the actor.
    func stateImage() -> StateImage {
        var image = StateImage()
        image.clockNow = clock.now()
        image.wallNow = wallClockNanoseconds()
        image.counters = StateImage.Counters(
            eventsReceived: eventsReceived, bytesReceived: bytesReceived, messagesReceived: messagesReceived,
            messagesRejected: messagesRejected, seriesRefused: seriesRefused, eventsRefused: eventsRefused,
            retiredProcesses: retiredProcesses, retiredDroppedEvents: retiredDroppedEvents, callLogEvicted: callLogs.evicted)
        image.series.reserveCapacity(series.count)
        for s in series.values {
            image.series.append(StateImage.SeriesRecord(
                service: s.key.service, pid: s.key.pid, operation: s.key.operation, retiredProcesses: s.retiredProcesses,
                firstSeen: s.firstSeen, lastSeen: s.lastSeen, calls: s.calls, errors: s.errors, warmup: s.warmup,
                synchronizedCalls: s.synchronizedCalls, slowCalls: s.slowCalls, flags: s.flags, memory: s.memory,
                errorTypes: s.errorTypeTable, warmupCalls: s.warmupCalls.parts, items: s.items, windows: s.windows))
        }
        for (id, c) in clients {
            guard let connection = c.record else { continue }
            var record = StateImage.ConnectionRecord(connection: connection)
            if let m = memory[id] {
                record.memory = StateImage.MemoryRecord(
                    samples: m.history.since(0), rssSamples: m.rssHistory.since(0), latest: m.latest, samplesTaken: m.samplesTaken, sampleFailures: m.sampleFailures,
                    suspectedSince: m.suspectedSince, deltasDropped: m.deltasDropped)
            }
            if let g = gpu.processes[id] {
                record.gpu = StateImage.GPURecord(samples: g.history.since(0), latest: g.latest, suspectedSince: g.suspectedSince)
            }
            image.connections.append(record)
        }
        for (key, log) in callLogs.keyed {
            image.callLogs.append(StateImage.CallLogRecord(
                service: key.service, operation: key.operation, slowCount: log.slowCount, failureCount: log.failureCount, entries: log.entries))
        }
        return image
    }

    /// What `restore` put back, for its log line.
    struct Restored: Sendable, Equatable {
        var series = 0
        var retiredSeries = 0
        var connections = 0
        var callEntries = 0
        /// Seconds the image's times moved (see the extension's comment).
        var shiftSeconds: Int64 = 0
        /// The image was taken in an earlier boot: its processes' series were folded at once.
        var earlierBoot = false
    }

    /// Puts `image` back into this store, which must not have seen a client yet. A process that
    /// was connected comes back as a `restored` connection record, and the series it had continue
    /// when it reconnects (same service, pid and operation) within the retention; one that does not
    /// retires as if it had exited at the restart. After a reboot (`sameBoot` false) no process can
    /// reconnect and a pid may be another process's: the image's processes retire at once.
    @discardableResult
    func restore(_ image: StateImage, sameBoot: Bool = true) -> Restored {
        precondition(clients.isEmpty && series.isEmpty, "restore a state before any client connects")
        let now = clock.now()
        let elapsed = wallClockNanoseconds().subtractingReportingOverflow(image.wallNow)
        let elapsedNs = elapsed.overflow ? 0 : Int64(clamping: elapsed.partialValue)
        let drift = Int64(clamping: now) &- Int64(clamping: image.clockNow) &- elapsedNs
        var restored = Restored()
        // Under five minutes either way (two anchored clocks, a slow start) is left alone.
        if drift.magnitude >= 5 * 60_000_000_000 {
            restored.shiftSeconds = Int64(clamping: Int((Double(drift) / 60e9).rounded() * 60))
        }
        let img = image.shifted(bySeconds: restored.shiftSeconds)

        let c = img.counters
        eventsReceived = c.eventsReceived
        bytesReceived = c.bytesReceived
        messagesReceived = c.messagesReceived
        messagesRejected = c.messagesRejected
        seriesRefused = c.seriesRefused
        eventsRefused = c.eventsRefused
        retiredProcesses = c.retiredProcesses
        retiredDroppedEvents = c.retiredDroppedEvents
        callLogs.restoreEvicted(c.callLogEvicted)

        for r in img.series {
            let key = SeriesKey(service: r.service, pid: r.pid, operation: r.operation)
            let s = Series(key: key, now: r.firstSeen, warmup: configuration.warmup)
            s.lastSeen = r.lastSeen
            s.calls = r.calls
            s.errors = r.errors
            s.warmup = r.warmup
            s.synchronizedCalls = r.synchronizedCalls
            s.slowCalls = r.slowCalls
            s.memory = r.memory
            s.errorTypeTable = r.errorTypes
            // Under this probed's --warmup (a series whose warm-up was over stays so, see WarmupFilter.init(parts:limit:)).
            s.warmupCalls = WarmupFilter(parts: r.warmupCalls, limit: configuration.warmup) ?? WarmupFilter(limit: configuration.warmup)
            s.flags = r.flags  // after the warm-up calls: it sets whether they are kept per items value
            s.items = r.items
            s.windows = r.windows
            s.retiredProcesses = r.retiredProcesses
            s.live = false
            series[key] = s
            if key.isRetired {
                restored.retiredSeries += 1
            } else {
                restored.series += 1
                var life = processes[ProcessKey(service: r.service, pid: r.pid)] ?? ProcessLife()
                life.operations.insert(r.operation)
                life.goneAt = now
                processes[ProcessKey(service: r.service, pid: r.pid)] = life
            }
        }

        let detector = leakDetector
        let window = configuration.memory.leakWindow
        var latestGone: [ProcessKey: UInt64] = [:]
        for (i, r) in img.connections.enumerated() {
            let id = Store.restoredConnectionIDs + ConnectionID(i)
            var client = Client(pid: r.pid, uid: r.uid, connectedAt: r.connectedAt)
            client.service = r.service
            // Connected at the save: gone since now. Restored at the save (it had not come back
            // since the restart before): gone since then, as any record that had closed.
            let wasConnected = r.state == "connected"
            client.state = wasConnected ? "restored" : r.state
            client.disconnectedAt = wasConnected ? now : r.disconnectedAt ?? now
            client.eventsReceived = r.eventsReceived
            client.droppedReported = r.droppedReported
            client.seriesRefused = r.seriesRefused
            client.eventsRefused = r.eventsRefused
            client.operationsAtExit = r.operations
            clients[id] = client
            let key = ProcessKey(service: r.service, pid: r.pid)
            latestGone[key] = max(latestGone[key] ?? 0, client.disconnectedAt ?? now)
            if let m = r.memory {
                var pm = ProcessMemory(capacity: configuration.memory.historyCapacity)
                for sample in m.samples { pm.history.append(sample) }
                for sample in m.rssSamples { pm.rssHistory.append(sample) }
                pm.latest = m.latest
                pm.samplesTaken = m.samplesTaken
                pm.sampleFailures = m.sampleFailures
                pm.deltasDropped = m.deltasDropped
                pm.resume(suspectedSince: m.suspectedSince, detector: detector, window: window, now: now)
                memory[id] = pm
            }
            if let g = r.gpu {
                var pg = ProcessGPUMemory(capacity: configuration.memory.historyCapacity)
                for sample in g.samples { pg.history.append(sample) }
                pg.latest = g.latest
                pg.resume(suspectedSince: g.suspectedSince, detector: detector, window: window, now: now)
                gpu.processes[id] = pg
            }
            restored.connections += 1
        }
        // A process gone before the save keeps its own time of going; one that was connected went now.
        for (key, gone) in latestGone where processes[key] != nil { processes[key]?.goneAt = gone }

        var entries: [(log: StateImage.CallLogRecord, entry: CallEntry)] = []
        for log in img.callLogs { for e in log.entries { entries.append((log, e)) } }
        for (_, e) in entries.sorted(by: { $0.entry.sequence < $1.entry.sequence }) { _ = callLogs.add(e) }
        for log in img.callLogs {
            callLogs.restoreCounts(CallLogs.Key(service: log.service, operation: log.operation), slow: log.slowCount, failures: log.failureCount)
        }
        restored.callEntries = entries.count

        if !sameBoot {
            restored.earlierBoot = true
            for (key, life) in processes where life.connections == 0 { retire(key, now: now) }
            for (id, c) in clients where c.state == "restored" { clients[id]?.state = "exited" }
        }
        return restored
    }

    /// The state keeper wrote the state to `directory` (for `probectl status`).
    func noteStateSaved(in directory: String) {
        stateDirectory = directory
        stateSavedAt = clock.now()
    }

    func noteStateDirectory(_ directory: String) {
        stateDirectory = directory
    }
}

extension LeakWatch {
    /// After a restart: the assessment fitted over the restored history, so a suspicion that
    /// held before holds on (since when it began) without being logged again.
    mutating func resume(suspectedSince since: UInt64?, detector: LeakDetector, window: UInt64, now: UInt64) {
        let a = latestAssessment(detector, window: window)
        assessment = a
        assessedAt = now
        suspectedSince = a.suspected ? since ?? now : nil
    }
}
