// Memory: resident memory of the client processes. A sampler thread reads /proc/<pid>/status of
// every connected client each interval and hands the round to the store, which keeps each
// process's history (MemoryHistory) and leak assessment (ProcessMemory).
// Owns: /proc reading and parsing, the sampling options, the per-process memory records.
// May call: Store/ (targets, readings), ProbeStatistics (MemorySample, LeakDetector), Service/ (Log).

import Dispatch
import ProbePosix
import Synchronization

/// Reads every connected client's `/proc/<pid>/status` once per sample interval, on a thread
/// of its own (never the ingest thread), and hands the readings to the store in one call.
///
/// Ticks are scheduled on absolute times so the interval does not drift; a round that overruns
/// (a very slow `/proc`) skips the ticks it missed rather than bunching them.
final class MemorySampler: Sendable {
    let store: Store
    let interval: UInt64
    let log: Log
    let read: @Sendable (Int32) -> ProcStatus?

    init(store: Store, interval: UInt64, log: Log, read: @escaping @Sendable (Int32) -> ProcStatus? = ProcStatus.read(pid:)) {
        self.store = store
        self.interval = interval
        self.log = log
        self.read = read
    }

    func start() {
        Daemon.startThread("memory-sampler", log: log) { [self] in run() }
    }

    func run() {
        var next = monotonicNanoseconds()
        while true {
            sampleOnce()
            next &+= interval
            let now = monotonicNanoseconds()
            if next <= now { next = now &+ interval - (now &- next) % interval }
            sleepNanoseconds(next &- now)
        }
    }

    /// One round: read every target's memory and hand the readings to the store.
    /// Kept out of `run`'s endless loop: inlined there, it sent the release optimiser into a
    /// loop of its own (the build never finished).
    @inline(never)
    func sampleOnce() {
        let targets = store.blocking { await $0.memoryTargets() }
        let readings = targets.map { ($0.0, read($0.1)) }
        let changes = store.blocking { await $0.recordMemorySamples(readings) }
        for change in changes { log.warning(change.residentMemoryLogLine) }
    }
}

extension LeakChange {
    /// The log line for a suspicion of a resident-memory leak that began or ended.
    var residentMemoryLogLine: String {
        guard began else { return "memory leak no longer suspected: \(who) (\(assessment.verdict))" }
        let rate = (assessment.trend?.slopeBytesPerMinute ?? 0) / 1_048_576
        return "suspected memory leak: \(who) owned memory (anonymous + swap) growing \(LeakChange.hundredths(rate)) MiB/min steadily (fit \(LeakChange.hundredths(assessment.trend?.tau ?? 0))); see probectl procs"
    }

    /// `v` rounded to two decimals, as Swift prints a Double.
    static func hundredths(_ v: Double) -> String {
        String((v * 100).rounded() / 100)
    }
}
