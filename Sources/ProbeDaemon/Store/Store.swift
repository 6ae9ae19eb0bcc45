// Store: the state. One actor holds every series, client, memory history, GPU reading and call
// log; ingest applies whole messages to it, samplers hand it their readings, and readers take
// snapshots out of it (plain values) to render elsewhere: JSON in Control/, Prometheus text in
// Metrics/. Nothing here produces an output format.
// Owns: Series (per-event state in SeriesHot), clients, counters, CallLogs and CallFeed, the clock.
// May call: ProbeStatistics (the arithmetic), ProbeWire (records), Memory/ and GPU/ value types,
// Service/ (Log, option defaults). Never a socket, a file or a thread.

import Dispatch
import ProbeWire

/// Identifies one accepted connection for the daemon's lifetime.
public typealias ConnectionID = UInt64

/// What the ingest side hands the store: one whole received message (or connection event) at a time.
public enum IngestItem: Sendable {
    case connected(ConnectionID, pid: Int32, uid: UInt32)
    case hello(ConnectionID, service: String)
    case define(ConnectionID, Definition)
    case events(ConnectionID, droppedTotal: UInt64, records: [EventRecord], bytes: Int)
    /// Per-call resident-memory deltas (a MEMORY message).
    case memoryDeltas(ConnectionID, droppedTotal: UInt64, records: [MemoryDeltaRecord], bytes: Int)
    /// One slow or failed call (a CALL_DETAIL), with the names the ingest side resolved.
    case callDetail(ConnectionID, CallDetail, operation: String, errorType: String?, bytes: Int)
    /// A message was refused and the connection closed.
    case rejected(ConnectionID)
    case disconnected(ConnectionID)
    /// Signalled once everything submitted before it has been applied.
    case barrier(DispatchSemaphore)
}

/// The daemon's statistics, owned by one actor. Ingest applies a whole message per call; queries
/// take snapshots of the same state, which Control/ and Metrics/ render.
public actor Store {
    public struct Configuration: Sendable {
        /// The first `warmup` calls of each series are kept out of latency figures.
        public var warmup: Int = 10
        public var socketPath: String = ""
        /// Resident-memory sampling, history and leak detection.
        public var memory = MemoryOptions()
        /// `--max-series`: new series past this many are refused (see Store+SeriesCap.swift).
        public var maxSeries: Int = DaemonOptions.defaultMaxSeries
        /// Where refusals are logged; nil logs nothing (unit tests).
        public var log: Log? = nil
        /// Memory all call logs together may hold (see CallLogs): 64 MiB unless a test says otherwise.
        public static let defaultCallLogBudgetBytes = 64 << 20
        public var callLogBudgetBytes = Configuration.defaultCallLogBudgetBytes
        public init(warmup: Int = 10, socketPath: String = "", memory: MemoryOptions = MemoryOptions(),
                    maxSeries: Int = DaemonOptions.defaultMaxSeries, log: Log? = nil,
                    callLogBudgetBytes: Int = Configuration.defaultCallLogBudgetBytes) {
            self.warmup = warmup
            self.socketPath = socketPath
            self.memory = memory
            self.maxSeries = maxSeries
            self.log = log
            self.callLogBudgetBytes = callLogBudgetBytes
        }
    }

    struct Client {
        let pid: Int32
        let uid: UInt32
        let connectedAt: UInt64
        var service: String?
        var state = "connected"
        var disconnectedAt: UInt64?
        /// Indexed by operation id.
        var operations: [Series?] = [] {
            didSet { hot = operations.map { $0?.hot } }
        }
        /// `operations`' per-event state, for the ingest loop: raw pointers, no reference counting.
        /// Valid while `operations` holds the series, which the `didSet` keeps true.
        private(set) var hot: [UnsafeMutablePointer<SeriesHot>?] = []
        /// Indexed by error type id.
        var errorTypes: [String?] = []
        var eventsReceived: UInt64 = 0
        var droppedReported: UInt64 = 0
        /// DEFINEs refused by `--max-series`, and the events that named them.
        var seriesRefused: UInt64 = 0
        var eventsRefused: UInt64 = 0
        /// Operations it had defined (with a series) when it disconnected: `operations` is
        /// emptied then, and `probectl status` still shows what an exited process had.
        var operationsAtExit: Int? = nil
        /// Operations defined that have a series, now or when it disconnected.
        var operationCount: Int { operationsAtExit ?? operations.lazy.compactMap { $0 }.count }
    }

    public let configuration: Configuration
    let clock: any DaemonClock
    let startedAt: UInt64
    var series: [SeriesKey: Series] = [:]
    var clients: [ConnectionID: Client] = [:]
    var eventsReceived: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var messagesReceived: UInt64 = 0
    var messagesRejected: UInt64 = 0
    var seriesRefused: UInt64 = 0
    var eventsRefused: UInt64 = 0
    /// Resident-memory history and trend per client connection (see Store+Memory.swift).
    var memory: [ConnectionID: ProcessMemory] = [:]
    /// NVML's devices and each client's device memory (see Store+GPU.swift).
    var gpu = GPUState()
    /// Slow and failed calls per operation (see Store+CallDetails.swift), and their followers.
    var callLogs: CallLogs
    let callFeed = CallFeed()
    /// Client processes connected, or gone for less than the retention (see Store+Lifecycle.swift).
    var processes: [ProcessKey: ProcessLife] = [:]
    /// Processes whose series were folded into retired aggregates, since the state began.
    var retiredProcesses: UInt64 = 0
    /// Events that forgotten connection records had reported dropped: they stay in the total.
    var retiredDroppedEvents: UInt64 = 0
    /// Bumped whenever a process goes; `makeRoom` skips its search while it has not moved.
    var foldableGeneration: UInt64 = 0
    var fruitlessRoomSearch: UInt64 = .max
    /// Where the state is kept and when it was last written (see Store+Persistence.swift).
    var stateDirectory: String?
    var stateSavedAt: UInt64?

    public init(configuration: Configuration = Configuration(), clock: any DaemonClock = AnchoredClock()) {
        self.configuration = configuration
        self.clock = clock
        startedAt = clock.now()
        callLogs = CallLogs(budgetBytes: configuration.callLogBudgetBytes)
    }

    public func apply(_ item: IngestItem) {
        switch item {
        case .connected(let id, let pid, let uid):
            clients[id] = Client(pid: pid, uid: uid, connectedAt: clock.now())
        case .hello(let id, let service):
            messagesReceived &+= 1
            guard clients[id]?.service == nil else { return }
            clients[id]?.service = service
            arrived(id)
        case .define(let id, let definition):
            messagesReceived &+= 1
            define(definition, on: id)
        case .events(let id, let dropped, let records, let bytes):
            messagesReceived &+= 1
            bytesReceived &+= UInt64(bytes)
            ingest(records, droppedTotal: dropped, on: id)
        case .memoryDeltas(let id, let dropped, let records, let bytes):
            messagesReceived &+= 1
            bytesReceived &+= UInt64(bytes)
            ingestMemoryDeltas(records, droppedTotal: dropped, on: id)
        case .callDetail(let id, let detail, let operation, let errorType, let bytes):
            ingestCallDetail(detail, operation: operation, errorType: errorType, bytes: bytes, on: id)
        case .rejected(let id):
            messagesRejected &+= 1
            departed(id, now: clock.now())
            clients[id]?.state = "rejected"
        case .disconnected(let id):
            let now = clock.now()
            departed(id, now: now)
            guard var client = clients[id] else { return }
            guard client.service != nil else {
                clients[id] = nil  // never said who it was: nothing to show
                return
            }
            if client.state == "connected" { client.state = "exited" }
            client.disconnectedAt = now
            // The tables are only for decoding; the series live on in `series`.
            client.operationsAtExit = client.operationCount
            client.operations = []
            client.errorTypes = []
            clients[id] = client
        case .barrier(let semaphore):
            semaphore.signal()
        }
    }

    func define(_ d: Definition, on id: ConnectionID) {
        guard var client = clients[id], let service = client.service else { return }
        let index = Int(d.id)
        switch d.kind {
        case .operation:
            if client.operations.count <= index { client.operations.append(contentsOf: repeatElement(nil, count: index + 1 - client.operations.count)) }
            let key = SeriesKey(service: service, pid: client.pid, operation: d.name)
            if let existing = series[key] {
                existing.live = true
                existing.flags = d.flags
                client.operations[index] = existing
            } else if !admitNewSeries(key, client: &client) {
                client.operations[index] = nil
            } else {
                let s = Series(key: key, now: clock.now(), warmup: configuration.warmup)
                s.flags = d.flags
                series[key] = s
                client.operations[index] = s
            }
            if client.operations[index] != nil { noteOperation(ProcessKey(service: service, pid: client.pid), d.name) }
        case .errorType:
            if client.errorTypes.count <= index { client.errorTypes.append(contentsOf: repeatElement(nil, count: index + 1 - client.errorTypes.count)) }
            client.errorTypes[index] = d.name
        }
        clients[id] = client
    }

    /// The hot loop: one array index and a few additions per event. The ingest side has already
    /// checked that every operation id is defined.
    func ingest(_ records: [EventRecord], droppedTotal: UInt64, on id: ConnectionID) {
        guard var client = clients[id] else { return }
        clients[id] = nil  // take it out so the tables are not copied on write below
        defer { clients[id] = client }
        let now = clock.now()
        client.eventsReceived &+= UInt64(records.count)
        client.droppedReported = max(client.droppedReported, droppedTotal)
        eventsReceived &+= UInt64(records.count)
        let second = now / 1_000_000_000
        var refused: UInt64 = 0
        client.hot.withUnsafeBufferPointer { table in
            records.withUnsafeBufferPointer { events in
                var last: UnsafeMutablePointer<SeriesHot>? = nil
                for r in events {
                    let index = Int(r.operationID)
                    guard index < table.count, let p = table[index] else {
                        // Defined (the ingest side checked) but refused by --max-series.
                        refused &+= 1
                        continue
                    }
                    if p != last {
                        // Close the series' past second (if one has ended) before adding to the current one.
                        p.pointee.touch(now)
                        p.pointee.lastSeen = now
                        last = p
                    }
                    p.pointee.synchronizedCalls &+= UInt64((r.flags & EventFlags.deviceSynchronized.rawValue) >> 1)  // branch-free
                    p.pointee.add(r, second: second)
                    if _slowPath(r.failed) {
                        // Every failure has a type in `error_types`, so they sum to `errors`: a
                        // record without one (id 0) counts as "unknown", as `probectl errors` shows it.
                        let t = Int(r.errorTypeID)
                        client.operations[index]!.addError(named: (t != 0 && t < client.errorTypes.count ? client.errorTypes[t] : nil) ?? "unknown")
                    }
                }
            }
        }
        client.eventsRefused &+= refused
        eventsRefused &+= refused
    }
}
