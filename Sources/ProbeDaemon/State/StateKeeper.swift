#if canImport(Glibc)
import Glibc
#endif
import ProbeControl
import ProbePosix
import Synchronization

/// The thread that keeps probed's state: every second it retires the processes gone longer than
/// the retention (Store+Lifecycle.swift); with a state directory it writes the state there every
/// `--state-interval` and once more on SIGTERM, and reads it back at start.
///
/// The file is `DIR/state`, written atomically: a temporary file `DIR/state.tmp`, fsync, rename
/// over the old one, fsync of the directory — a crash at any moment leaves the old state or the
/// new, whole. A file that cannot be used (empty, truncated, corrupt, not a state file, written
/// by a newer probed) is moved aside to `DIR/state.bad-<UTC time>` with one log line saying why,
/// and probed starts empty; it never stops probed from starting.
final class StateKeeper: @unchecked Sendable {
    // (1) `@unchecked Sendable`: the fields are immutable; `saving` serialises the writers
    //     (the keeper's thread and the SIGTERM path).
    let store: Store
    let directory: String?
    let interval: UInt64
    let log: Log
    /// The thresholds set with `probectl threshold` (the ingest side holds them).
    let thresholds: @Sendable () -> [String: UInt64]
    let saving = Mutex<String?>(nil)  // the last save failure logged, so one reason is logged once

    static let fileName = "state"

    init(store: Store, directory: String?, interval: UInt64, log: Log, thresholds: @escaping @Sendable () -> [String: UInt64]) {
        self.store = store
        self.directory = directory
        self.interval = interval
        self.log = log
        self.thresholds = thresholds
    }

    var path: String? { directory.map { $0 + "/" + StateKeeper.fileName } }

    func start(log: Log) {
        Daemon.startThread("state", log: log) { [self] in run() }
    }

    func run() {
        var nextSave = monotonicNanoseconds() &+ interval
        while true {
            sleepNanoseconds(1_000_000_000)
            store.blocking { await $0.retireExited() }
            let now = monotonicNanoseconds()
            if directory != nil && now >= nextSave {
                save()
                nextSave &+= interval
                if nextSave <= now { nextSave = now &+ interval }  // a save longer than the interval: skip, don't bunch
            }
        }
    }

    // MARK: Saving

    /// Writes the state now; false (and one log line per distinct reason) when it could not.
    /// `why` is logged with the save ("SIGTERM").
    @discardableResult
    func save(why: String? = nil) -> Bool {
        guard let directory, let path else { return false }
        return saving.withLock { lastFailure -> Bool in
            let t0 = monotonicNanoseconds()
            var image = store.blocking { await $0.stateImage() }
            let t1 = monotonicNanoseconds()
            image.writer = probeVersion
            image.bootID = StateKeeper.bootID()
            image.thresholds = thresholds().sorted { $0.key < $1.key }.map { StateImage.Threshold(operation: $0.key, nanoseconds: $0.value) }
            let bytes = StateFile.encode(image)
            let t2 = monotonicNanoseconds()
            do {
                try StateKeeper.ensureDirectory(directory)
                try StateKeeper.writeAtomically(bytes, to: path, directory: directory)
            } catch {
                let reason = "cannot write the state to \(path): \(error)"
                if reason != lastFailure { log.error("\(reason); the last state written stays (will retry every \(DaemonOptions.durationText(interval)))") }
                lastFailure = reason
                return false
            }
            let t3 = monotonicNanoseconds()
            if lastFailure != nil { log.info("state written to \(path) again") }
            lastFailure = nil
            store.blocking { await $0.noteStateSaved(in: directory) }
            let line = "state saved to \(path)\(why.map { " (\($0))" } ?? ""): \(image.series.count) series, \(image.connections.count) processes, "
                + "\(bytes.count) bytes; store held \(StateKeeper.milliseconds(t1 &- t0)) ms, encoding \(StateKeeper.milliseconds(t2 &- t1)) ms, "
                + "writing \(StateKeeper.milliseconds(t3 &- t2)) ms"
            if why != nil { log.info(line) } else { log.debug(line) }
            return true
        }
    }

    static func milliseconds(_ ns: UInt64) -> String {
        String(Double(ns / 10_000) / 100)
    }

    struct FileError: Error, CustomStringConvertible {
        var description: String
        init(_ what: String, _ code: Int32 = errno) { description = "\(what): \(String(cString: strerror(code)))" }
    }

    /// Creates `directory` (and its parents) with mode 0700 when missing.
    static func ensureDirectory(_ directory: String) throws(FileError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            path += "/" + part
            var info = stat()
            if stat(path, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else { throw FileError("\(path) is not a directory", ENOTDIR) }
                continue
            }
            guard errno == ENOENT, mkdir(path, 0o700) == 0 || errno == EEXIST else { throw FileError("cannot create \(path)") }
        }
    }

    /// Writes `bytes` to `path` so that a crash leaves either the old file or the new one whole:
    /// a temporary file beside it, fsync, rename, fsync of the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(FileError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("open \(temporary)") }
        var written = 0
        let failure: FileError? = bytes.withUnsafeBytes { b -> FileError? in
            while written < b.count {
                let n = write(fd, b.baseAddress! + written, b.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return FileError("write \(temporary)")
                }
                written += n
            }
            return fsync(fd) == 0 ? nil : FileError("fsync \(temporary)")
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let e = FileError("rename \(temporary) to \(path)")
            unlink(temporary)
            throw e
        }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw FileError("open \(directory)") }
        defer { close(dir) }
        guard fsync(dir) == 0 else { throw FileError("fsync \(directory)") }
    }

    // MARK: Loading

    /// Reads the state file into the store (before any client connects) and returns the thresholds
    /// it held. Without a state directory, or without a file, nothing happens (one line says so);
    /// a bad file is moved aside with one line saying why.
    func load() -> [StateImage.Threshold] {
        guard let directory, let path else { return [] }
        store.blocking { await $0.noteStateDirectory(directory) }
        let t0 = monotonicNanoseconds()
        let bytes: [UInt8]
        do {
            guard let read = try StateKeeper.read(path) else {
                log.info("no saved state in \(directory) (\(path) does not exist); starting empty, saving every \(DaemonOptions.durationText(interval))")
                return []
            }
            bytes = read
        } catch {
            quarantine(path, StateFileError(.unreadable, "unreadable: \(error)"))
            return []
        }
        let image: StateImage
        do {
            image = try StateFile.decode(bytes)
        } catch {
            quarantine(path, error)
            return []
        }
        let current = StateKeeper.bootID()
        let sameBoot = image.bootID.isEmpty || current.isEmpty || image.bootID == current
        let restored = store.blocking { await $0.restore(image, sameBoot: sameBoot) }
        let age = wallClockNanoseconds() &- min(image.wallNow, wallClockNanoseconds())
        var line = "restored the state from \(path) (written by probed \(image.writer) \(DaemonOptions.durationText(age / 1_000_000_000 * 1_000_000_000)) ago, \(bytes.count) bytes, "
            + "read in \(StateKeeper.milliseconds(monotonicNanoseconds() &- t0)) ms): \(restored.series) series, \(restored.retiredSeries) retired series, "
            + "\(restored.connections) processes, \(restored.callEntries) slow and failed calls, \(image.thresholds.count) thresholds"
        if restored.earlierBoot { line += "; written before the last boot: its processes are gone, their series retired" }
        if restored.shiftSeconds != 0 { line += "; its times moved \(restored.shiftSeconds) s (the wall clock changed)" }
        log.info(line)
        return image.thresholds
    }

    /// The file's bytes; nil when it does not exist.
    static func read(_ path: String) throws(FileError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileError("open")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError("fstat") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileError("not a regular file", EINVAL) }
        // The size as fstat says, plus room to see that it ended (files in /proc say 0).
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 4096)
        var used = 0
        while true {
            if used == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + used, $0.count - used, off_t(used)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw FileError("read") }
            if n == 0 { break }
            used += n
        }
        bytes.removeLast(bytes.count - used)
        return bytes
    }

    /// Moves a state file that cannot be used aside (`state.bad-<UTC time>`) and logs one line.
    func quarantine(_ path: String, _ error: StateFileError) {
        let aside = StateKeeper.asideName(for: path)
        let moved = rename(path, aside) == 0
        let outcome = moved ? "moved it to \(aside)" : "could not move it aside (\(String(cString: strerror(errno)))); it will be replaced at the next save"
        log.warning("state file \(path) not used: \(error); starting empty; \(outcome)")
    }

    /// `PATH.bad-YYYYMMDDTHHMMSSZ`, with `-2`, `-3`… when that exists already.
    static func asideName(for path: String) -> String {
        var t = time_t(wallClockNanoseconds() / 1_000_000_000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let stamp = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
        var name = "\(path).bad-\(stamp)"
        var n = 2
        while access(name, F_OK) == 0 {
            name = "\(path).bad-\(stamp)-\(n)"
            n += 1
        }
        return name
    }

    /// The kernel's id of this boot; "" when unreadable.
    static func bootID() -> String {
        guard let bytes = try? read("/proc/sys/kernel/random/boot_id") else { return "" }
        return String(String(decoding: bytes, as: UTF8.self).trimmingWhitespace())
    }
}
