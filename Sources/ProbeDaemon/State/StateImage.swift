// State: what survives a restart. The store copies its state out into a StateImage (plain values)
// in one actor turn (Store/Store+Persistence.swift); StateFile encodes and decodes it; the
// StateKeeper thread writes it atomically every --state-interval and on SIGTERM, reads it back
// at start, and moves a bad file aside. The keeper also retires exited processes every second.
// Owns: the file format (versioned, checksummed), the state directory, saving and loading.
// May call: Store/ (image out, image in, retirement), ProbeStatistics (the values' parts and their
// checks), ProbePosix, Service/ (Log).

import ProbeStatistics
import ProbeWire

/// The store's own record of a connection, named so that `StateImage.ConnectionRecord` can hold one.
typealias StoreConnectionRecord = ConnectionRecord

/// Everything probed keeps across a restart, as plain values: the one list of what a state file
/// holds. A new kind of state joins here, in `StateFile`'s encoder and decoder (a field appended
/// to a record, or a new section, readable by older probeds, which skip it), and in
/// `Store+Persistence.swift`.
struct StateImage: Sendable {
    /// When it was taken: the daemon's clock and the wall clock (CLOCK_REALTIME), ns. Every other
    /// time in the image is of the daemon's clock.
    var clockNow: UInt64 = 0
    var wallNow: UInt64 = 0
    /// The probed version that wrote it (for the log).
    var writer = ""
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`) when it was taken: after a reboot
    /// no process of the image can reconnect, and a pid may belong to another process.
    var bootID = ""
    var counters = Counters()
    /// Every series held: each process's and each retired aggregate.
    var series: [SeriesRecord] = []
    /// Client connections that said HELLO and are still listed (connected, or gone within the
    /// retention), with their memory histories.
    var connections: [ConnectionRecord] = []
    /// Slow and failed calls kept per (service, operation).
    var callLogs: [CallLogRecord] = []
    /// Slow-call thresholds set with `probectl threshold`, by operation.
    var thresholds: [Threshold] = []

    /// The daemon-wide counters (Prometheus counters and `probectl status`).
    struct Counters: Sendable, Equatable {
        var eventsReceived: UInt64 = 0
        var bytesReceived: UInt64 = 0
        var messagesReceived: UInt64 = 0
        var messagesRejected: UInt64 = 0
        var seriesRefused: UInt64 = 0
        var eventsRefused: UInt64 = 0
        var retiredProcesses: UInt64 = 0
        var retiredDroppedEvents: UInt64 = 0
        /// Call-log entries evicted to keep the call-log budget (`probectl status`).
        var callLogEvicted: UInt64 = 0
    }

    struct SeriesRecord: Sendable {
        var service: String
        /// `SeriesKey.retiredPID` for a retired aggregate.
        var pid: Int32
        var operation: String
        var retiredProcesses: Int
        var firstSeen: UInt64
        var lastSeen: UInt64
        var calls: UInt64
        var errors: UInt64
        var warmup: UInt64
        var synchronizedCalls: UInt64
        var slowCalls: UInt64
        /// DEFINE's flags (a retired aggregate's: see `Series.absorb`).
        var flags: OperationFlags
        var memory: MemoryDeltaStats
        /// Failures by error type, by slot (window slices count by slot), and `other`.
        var errorTypes: ErrorTypeTable
        /// The warm-up calls (rebuilt under the restoring probed's `--warmup`).
        var warmupCalls: WarmupFilter.Parts
        var items: ItemStats
        var windows: SeriesWindows
    }

    /// A connection as the store's reports see it (`Store.Client.record`; `state` `connected`
    /// when saved, restored as `restored`), with the memory histories probed keeps beside it.
    @dynamicMemberLookup
    struct ConnectionRecord: Sendable {
        var connection: StoreConnectionRecord
        var memory: MemoryRecord? = nil
        var gpu: GPURecord? = nil

        subscript<T>(dynamicMember path: WritableKeyPath<StoreConnectionRecord, T>) -> T {
            get { connection[keyPath: path] }
            set { connection[keyPath: path] = newValue }
        }
    }

    /// A process's resident memory (ProcessMemory, less what is recomputed from the history).
    struct MemoryRecord: Sendable {
        /// Owned memory (anonymous + swap: what the leak detector fits), and VmRSS, per sample.
        var samples: [MemorySample]
        var rssSamples: [MemorySample]
        var latest: ProcStatus?
        var samplesTaken: UInt64
        var sampleFailures: UInt64
        var suspectedSince: UInt64?
        var deltasDropped: UInt64
    }

    /// A process's device memory (ProcessGPUMemory, likewise).
    struct GPURecord: Sendable {
        var samples: [MemorySample]
        var latest: UInt64?
        var suspectedSince: UInt64?
    }

    struct CallLogRecord: Sendable {
        var service: String
        var operation: String
        /// Slow calls and failures ever reported (also those no longer kept).
        var slowCount: UInt64
        var failureCount: UInt64
        /// Every entry any of its lists keeps, oldest first.
        var entries: [CallEntry]
    }

    struct Threshold: Sendable, Equatable {
        var operation: String
        var nanoseconds: UInt64
    }
}

extension StateImage {
    /// The image with every daemon-clock time moved by `seconds` (whole minutes keep window slices
    /// aligned to their tier): how a state saved under one clock lands on another. Times that
    /// would fall before the clock's zero become 0; window slices that would, leave the windows
    /// (the lifetime keeps their calls).
    func shifted(bySeconds seconds: Int64) -> StateImage {
        guard seconds != 0 else { return self }
        let ns = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !ns.overflow else { return self }
        func move(_ t: UInt64) -> UInt64 {
            let moved = Int64(clamping: t).addingReportingOverflow(ns.partialValue)
            return moved.overflow || moved.partialValue < 0 ? 0 : UInt64(moved.partialValue)
        }
        func moveSecond(_ s: UInt64) -> UInt64? {
            let moved = Int64(clamping: s).addingReportingOverflow(seconds)
            return moved.overflow || moved.partialValue < 0 ? nil : UInt64(moved.partialValue)
        }
        var image = self
        image.clockNow = move(clockNow)
        for i in image.series.indices {
            var r = image.series[i]
            r.firstSeen = move(r.firstSeen)
            r.lastSeen = move(r.lastSeen)
            var p = r.items.parts
            if p.openSecond != .max { p.openSecond = moveSecond(p.openSecond) ?? 0 }
            p.closed = p.closed.compactMap { s in moveSecond(s.second).map { ItemStats.Second(second: $0, items: s.items) } }
            if p.openSecond == 0 { p.closed = [] }
            r.items = ItemStats(parts: p) ?? r.items
            var w = r.windows.parts
            if let second = moveSecond(w.second) {
                w.second = second
                w.slices = w.slices.compactMap { s in moveSecond(s.start).map { SeriesWindows.Slice(start: $0, width: s.width, latency: s.latency) } }
                w.errorTypeSince = w.errorTypeSince.map { moveSecond($0) ?? 0 }
            } else {
                // Before the clock's zero: keep the lifetime, empty the windows.
                var lifetime = w.closed.histogram
                lifetime.merge(w.open)
                w = SeriesWindows.Parts(
                    second: 0, open: Histogram(), openErrorTypes: [],
                    openedAt: SeriesWindows.Totals(calls: r.calls, errors: r.errors, warmup: r.warmup), slices: [],
                    closed: CompactHistogram(lifetime))
            }
            r.windows = SeriesWindows(parts: w, errorTypes: r.errorTypes.names.count) ?? r.windows
            // The warm-up calls' start times are the client's clock, which a restart of probed does not move.
            image.series[i] = r
        }
        for i in image.connections.indices {
            var c = image.connections[i]
            c.connectedAt = move(c.connectedAt)
            c.disconnectedAt = c.disconnectedAt.map(move)
            if var m = c.memory {
                m.samples = m.samples.map { MemorySample(time: move($0.time), bytes: $0.bytes) }
                m.rssSamples = m.rssSamples.map { MemorySample(time: move($0.time), bytes: $0.bytes) }
                m.suspectedSince = m.suspectedSince.map(move)
                c.memory = m
            }
            if var g = c.gpu {
                g.samples = g.samples.map { MemorySample(time: move($0.time), bytes: $0.bytes) }
                g.suspectedSince = g.suspectedSince.map(move)
                c.gpu = g
            }
            image.connections[i] = c
        }
        return image
    }
}
