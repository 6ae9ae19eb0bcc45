/// What probectl receives from probed. The daemon writes these with `JSONWriter`; probectl and the
/// tests read them with `JSONDecoder` (`.convertFromSnakeCase`). Keys follow DESIGN.md's
/// conventions; `schema_version` grows only when a key changes meaning or goes away.
public enum Schema {
    public static let version = 1
}

/// One row of `probectl stats --json`, over one window: a process's series (service, pid,
/// operation); with `pid` null and `merged` true, the merge of one (service, operation) across
/// its processes; with `pid` null and `merged` false, its retired aggregate: the processes gone,
/// folded (`retired_processes` of them).
public struct OperationRow: Codable, Sendable, Equatable {
    public var service: String
    public var pid: Int?
    public var operation: String
    /// "10s", "1m", "5m", "15m", or "all" (since the series began).
    public var window: String
    public var calls: UInt64
    public var errors: UInt64
    public var warmup: UInt64
    /// Calls in the latency figures: successful calls past warm-up.
    public var counted: UInt64
    public var minNs: UInt64?
    public var meanNs: UInt64?
    public var p50Ns: UInt64?
    public var p90Ns: UInt64?
    public var p99Ns: UInt64?
    public var p999Ns: UInt64?
    public var maxNs: UInt64?
    public var ratePerS: Double
    public var errorTypes: [String: UInt64]
    /// Processes merged into this row (1 for a series row).
    public var processes: Int
    /// Of `processes`, those gone and folded into the retired aggregate (0 for a series row);
    /// nil from a probed that predates retirement.
    public var retiredProcesses: Int?
    /// True for the row merged across processes; nil from a probed that predates retirement
    /// (there, a null `pid` means merged).
    public var merged: Bool?
    /// The time the figures cover: the window, or less where the series began later.
    public var spanNs: UInt64
    /// p99 since the series began, to compare a window's p99 with.
    public var lifetimeP99Ns: UInt64?
    /// Calls that recorded a resident-memory delta (memory-tracked calls); the deltas' mean,
    /// largest and sum in bytes, all nil when none was recorded (see MemoryReports.swift).
    public var memDeltaCalls: UInt64?
    public var memDeltaMeanBytes: Int64?
    public var memDeltaMaxBytes: Int64?
    /// The exact sum: 128 bits, since deltas of up to 2^63 − 1 bytes each can pass 64.
    public var memDeltaTotalBytes: Int128?
    /// Whether at least 99% of the series' calls waited for the device (`measure(sync:)`), and
    /// how many did; warnings such as unsynchronised timings of a GPU-holding process. Lifetime
    /// figures; nil from a probed that predates them.
    public var deviceSynchronized: Bool?
    public var synchronizedCalls: UInt64?
    public var warnings: [String]?
    /// Items processed (batch sizes summed, every call), items per second over the window (at most
    /// its last minute; `all`: the last 10 s), mean duration per item over counted calls.
    public var items: UInt64?
    /// Calls since the series began (the window's `calls` cover only the window), beside `items`:
    /// an operation whose items differ from its calls processes batches.
    public var lifetimeCalls: UInt64?
    public var itemsPerS: Double?
    public var meanPerItemNs: UInt64?
    /// Calls the client reported slower than the operation's threshold.
    public var slowCalls: UInt64?
    /// Failed calls over all calls in the last minute (nil when none).
    public var errorRate1M: Double?
}

public struct StatsReport: Codable, Sendable {
    public var schemaVersion: Int
    public var warmupCalls: Int
    public var window: String
    public var operations: [OperationRow]
}

public struct ProcessRow: Codable, Sendable, Equatable {
    public var service: String
    public var pid: Int
    public var uid: Int
    public var state: String
    public var connectedForNs: UInt64
    public var eventsReceived: UInt64
    public var droppedEvents: UInt64
    public var operations: Int
}

public struct StatusReport: Codable, Sendable {
    public var schemaVersion: Int
    public var version: String
    public var pid: Int
    public var uptimeNs: UInt64
    public var socket: String
    public var warmupCalls: Int
    public var connectedProcesses: Int
    public var series: Int
    public var eventsReceived: UInt64
    public var bytesReceived: UInt64
    public var messagesReceived: UInt64
    public var messagesRejected: UInt64
    public var droppedEvents: UInt64
    /// `--max-series` and what it refused (absent from daemons before it existed).
    public var maxSeries: Int?
    public var seriesRefused: UInt64?
    public var eventsRefused: UInt64?
    /// False when probed was behind its clients: messages they queued before the request were not
    /// yet applied, and the figures leave them out (absent from daemons before it existed).
    public var upToDate: Bool?
    /// Retired aggregates among `series`, processes folded into them, how long a process gone
    /// stays listed, and the state directory with the age of its last save (absent from daemons
    /// before they existed; `state_dir` null: none).
    public var retiredSeries: Int?
    public var retiredProcesses: UInt64?
    public var exitedRetentionNs: UInt64?
    public var stateDir: String?
    public var stateSavedAgoNs: UInt64?
    /// `--max-clients` as in force, and the connections refused at it or at the descriptor limit.
    public var maxClients: Int?
    public var connectionsRefused: UInt64?
    /// Memory held by the slow/failed-call logs, their budget, and entries evicted to keep it.
    public var callLogBytes: Int?
    public var callLogBudgetBytes: Int?
    public var callLogEvicted: UInt64?
    public var processes: [ProcessRow]
}

/// The daemon's answer when a request cannot be served.
public struct ErrorReport: Codable, Sendable {
    public var schemaVersion: Int
    public var error: String
}

/// The version string of this build, shown by `probed --version` and `probectl status`.
public let probeVersion = "0.1.0"
