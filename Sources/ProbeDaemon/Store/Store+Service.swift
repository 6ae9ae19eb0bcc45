/// What the service side of probed asks of the store: a summary for systemd's STATUS= line,
/// and `probectl reset`.
extension Store {
    public struct ServiceSummary: Sendable, Equatable {
        public var connectedProcesses: Int
        public var eventsReceived: UInt64
        public var series: Int
    }

    public func serviceSummary() -> ServiceSummary {
        ServiceSummary(connectedProcesses: clients.values.reduce(0) { $0 + ($1.state == "connected" ? 1 : 0) },
                       eventsReceived: eventsReceived, series: series.count)
    }

    /// Clears every operation's statistics (calls, errors, latency, windows, memory deltas, and
    /// the slow and failed calls kept for `probectl slow` and `errors`, with their counts) as if
    /// its series began now; connected processes keep their operations, defined afresh, and the
    /// series of processes gone are dropped. Warm-up counts again from the next call: the first N
    /// calls after a reset are kept out of latency, like a fresh start. Daemon-wide counters
    /// (events received, messages) and the processes' memory history are kept. Returns the number
    /// of series cleared.
    public func resetStatistics() -> Int {
        let cleared = series.count
        let now = clock.now()
        let warmup = configuration.warmup
        var fresh: [SeriesKey: Series] = [:]
        for (id, var client) in clients where !client.operations.isEmpty {
            client.operations = client.operations.map { old in
                old.map { s in
                    if let known = fresh[s.key] { return known }
                    let renewed = Series(key: s.key, now: now, warmup: warmup)
                    renewed.flags = s.flags
                    fresh[s.key] = renewed
                    return renewed
                }
            }
            clients[id] = client
        }
        series = fresh
        callLogs.removeAll()
        // Processes gone keep their place until the retention ends, but no series.
        for (key, life) in processes where life.connections == 0 { processes[key]?.operations = [] }
        return cleared
    }
}
