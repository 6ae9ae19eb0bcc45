extension Store {
    /// What `probectl status` shows: the daemon's counters and every client connection that said HELLO.
    func statusSnapshot() -> StatusSnapshot {
        StatusSnapshot(
            now: clock.now(), startedAt: startedAt, socketPath: configuration.socketPath, warmup: configuration.warmup,
            maxSeries: configuration.maxSeries, series: series.count, eventsReceived: eventsReceived,
            bytesReceived: bytesReceived, messagesReceived: messagesReceived, messagesRejected: messagesRejected,
            seriesRefused: seriesRefused, eventsRefused: eventsRefused,
            retiredSeries: series.keys.reduce(0) { $0 + ($1.isRetired ? 1 : 0) }, retiredProcesses: retiredProcesses,
            retiredDroppedEvents: retiredDroppedEvents, exitedRetention: configuration.memory.exitedRetention,
            stateDirectory: stateDirectory, stateSavedAt: stateSavedAt,
            callLogBytes: callLogs.bytes, callLogBudgetBytes: callLogs.budgetBytes, callLogEvicted: callLogs.evicted,
            connections: clients.values.compactMap(\.record))
    }
}

extension Store.Client {
    /// This connection as reports see it; nil until it said HELLO.
    var record: ConnectionRecord? {
        guard let service else { return nil }
        return ConnectionRecord(
            service: service, pid: pid, uid: uid, state: state, connectedAt: connectedAt, disconnectedAt: disconnectedAt,
            eventsReceived: eventsReceived, droppedReported: droppedReported,
            operations: operationCount, seriesRefused: seriesRefused, eventsRefused: eventsRefused)
    }
}


/// The daemon's counters and its client connections (Control/StatusJSON.swift renders them).
struct StatusSnapshot: Sendable {
    /// Daemon clock (monotonic ns) when the snapshot was taken, and when probed started.
    var now: UInt64
    var startedAt: UInt64
    var socketPath: String
    var warmup: Int
    var maxSeries: Int
    var series: Int
    var eventsReceived: UInt64
    var bytesReceived: UInt64
    var messagesReceived: UInt64
    var messagesRejected: UInt64
    var seriesRefused: UInt64
    var eventsRefused: UInt64
    /// Retired aggregates among `series`, and the processes folded into them so far.
    var retiredSeries: Int
    var retiredProcesses: UInt64
    /// Drops reported by connections no longer listed (see Store+Lifecycle.swift).
    var retiredDroppedEvents: UInt64
    var exitedRetention: UInt64
    /// `--state-dir` (nil: none), and when the state was last written there (daemon clock).
    var stateDirectory: String?
    var stateSavedAt: UInt64?
    var callLogBytes: Int
    var callLogBudgetBytes: Int
    var callLogEvicted: UInt64
    /// In no particular order.
    var connections: [ConnectionRecord]
}
