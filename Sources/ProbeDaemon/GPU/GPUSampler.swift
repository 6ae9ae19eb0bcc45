// GPU: NVIDIA's management library, loaded at run time (CNVML), and the sampler thread that reads
// every device and its processes each interval and hands the round to the store.
// Owns: the NVML wrapper and its error handling, the GPU snapshot types.
// May call: CNVML, Store/ (GPU readings), Service/ (Log).

import Dispatch
import CNVML
import ProbePosix

/// Loads NVML once at start and, when it is there, reads every device and its processes once per
/// sample interval on a thread of its own (never the ingest thread), handing each round to the
/// store in one call. Without NVML (no library, not a library, `nvmlInit` failed) probed logs one
/// line saying why and keeps running with GPU figures absent.
final class GPUSampler: Sendable {
    let store: Store
    let interval: UInt64
    let log: Log
    let path: String
    /// True when the path came from `--nvml-library` or `PROBED_NVML_LIBRARY`.
    let explicit: Bool

    init(store: Store, interval: UInt64, libraryPath: String?, log: Log) {
        self.store = store
        self.interval = interval
        self.log = log
        let chosen = libraryPath ?? SocketPath.environment("PROBED_NVML_LIBRARY").flatMap { $0.isEmpty ? nil : $0 }
        path = chosen ?? NVML.defaultLibrary
        explicit = chosen != nil
    }

    /// Loads and initialises NVML and takes the first round on the calling thread (so the first
    /// `probectl gpu` has figures), then samples on a thread of its own.
    func start() {
        let nvml: NVML
        do {
            nvml = try NVML(path: path)
        } catch {
            // A host without a GPU is ordinary (info); a library that was asked for and failed is not.
            let line = "GPU figures unavailable: \(error)"
                + (explicit ? "; check --nvml-library / PROBED_NVML_LIBRARY" : "; probed runs without them (install the NVIDIA driver, or name the library with --nvml-library)")
            if explicit || !error.description.contains("No such file") { log.warning(line) } else { log.info(line) }
            let reason = error.description
            store.blocking { await $0.recordGPUUnavailable(reason: reason) }
            return
        }
        let loaded = GPULibrary(
            path: path, driverVersion: nvml.driverVersion, processesFunction: nvml.processesSymbol,
            processEntryBytes: nvml.processEntryBytes, memoryFunction: nvml.memorySymbol,
            clocksEventReasonsFunction: nvml.clocksEventReasonsSymbol)
        store.blocking { await $0.recordGPULoaded(loaded) }
        let first = round(nvml, known: [:])
        let symbol = nvml.processesSymbol ?? "none"
        log.info("NVML loaded from \(path) (driver \(nvml.driverVersion ?? "version unknown"), \(nvml.initSymbol), "
            + "processes via \(symbol) read as \(nvml.processEntryBytes)-byte entries, memory via \(nvml.memorySymbol ?? "none")): "
            + "\(first.devices) GPU\(first.devices == 1 ? "" : "s"), sampled every \(interval / 1_000_000) ms")
        Daemon.startThread("gpu-sampler", log: log) { [self] in run(nvml, known: first.errors) }
    }

    func run(_ nvml: NVML, known: [String: String]) {
        var known = known
        var next = monotonicNanoseconds() &+ interval
        while true {
            let now = monotonicNanoseconds()
            if next > now { sleepNanoseconds(next &- now) }
            known = round(nvml, known: known).errors
            next &+= interval
            let after = monotonicNanoseconds()
            if next <= after { next = after &+ interval - (after &- next) % interval }
        }
    }

    /// One sample handed to the store. Logs a device's query error once when it appears and once
    /// when it clears (a GPU that fell off the bus is worth a line, not one per interval).
    func round(_ nvml: NVML, known: [String: String]) -> (devices: Int, errors: [String: String]) {
        let snapshot = nvml.sample(time: 0)
        var errors: [String: String] = [:]
        if let e = snapshot.countError { errors["count"] = e }
        for d in snapshot.devices {
            for (query, e) in d.errors { errors["GPU \(d.index) \(query)"] = e }
        }
        for (what, e) in errors.sorted(by: { $0.key < $1.key }) where known[what] != e {
            // NOT_SUPPORTED is a property of the device (say, no utilisation counters), not a fault.
            if e.hasSuffix("(NVML error \(NVML_ERROR_NOT_SUPPORTED))") { log.info("NVML: \(what): \(e)") } else { log.warning("NVML: \(what): \(e)") }
        }
        for what in known.keys.sorted() where errors[what] == nil {
            log.info("NVML: \(what) answers again")
        }
        let changes = store.blocking { await $0.recordGPU(snapshot) }
        for change in changes { log.warning(change.deviceMemoryLogLine) }
        return (snapshot.devices.count, errors)
    }
}

extension LeakChange {
    /// The log line for a suspicion of a device-memory leak that began or ended.
    var deviceMemoryLogLine: String {
        guard began else { return "GPU memory leak no longer suspected: \(who) (\(assessment.verdict))" }
        let rate = LeakChange.hundredths((assessment.trend?.slopeBytesPerMinute ?? 0) / 1_048_576)
        return "suspected GPU memory leak: \(who) device memory growing \(rate) MiB/min steadily; see probectl procs"
    }
}
