// Service: probed as a system service. Options and the configuration file (DaemonOptions,
// ConfigFile), who may connect and change state (AccessControl), logging (Log, RateLimitedLog),
// systemd's notify protocol and watchdog (ServiceNotifier, ServiceReporter), socket activation,
// SIGHUP reload and a clean shutdown.
// Owns: settings, policy, logging, the conversation with systemd.
// May call: ProbePosix; Store/ (the STATUS= summary) and Ingest/ (stop accepting, barrier) at
// shutdown and for the watchdog.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbePosix
import Synchronization

/// Running as a service: telling systemd how probed is (READY, STATUS, WATCHDOG, STOPPING),
/// re-reading the configuration on SIGHUP, and stopping without losing what clients sent.
extension Daemon {
    /// SIGHUP: reads the configuration file again (with the same flags over it), applies what can
    /// change live (`ConfigFile.liveKeys`) and logs every other change as needing a restart.
    /// A bad file is logged and the settings in effect are kept.
    static func reload(_ settings: inout DaemonSettings, running: inout DaemonOptions, log: Log, notifier: ServiceNotifier) {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())")
        defer { notifier.notify("READY=1") }
        var next = settings
        do {
            try next.reload()
        } catch {
            let problems = (error as? ConfigFile.Invalid)?.problems.joined(separator: "; ") ?? "\(error)"
            log.error("SIGHUP: configuration not reloaded, keeping the settings in effect: \(problems)")
            return
        }
        settings = next
        let source = next.configPath ?? "no configuration file"
        let changes = next.options.changes(from: running)
        guard !changes.isEmpty else {
            log.info("SIGHUP: re-read \(source); nothing changed")
            return
        }
        for change in changes {
            if ConfigFile.liveKeys.contains(change.key) {
                switch change.key {
                case "log-level":
                    running.logLevel = next.options.logLevel
                    log.level = next.options.logLevel
                default:
                    break
                }
                log.info("SIGHUP: \(change.key) changed from \(change.old) to \(change.new) (\(source)); applied")
            } else {
                log.warning("SIGHUP: \(change.key) changed from \(change.old) to \(change.new) (\(source)); takes effect after a restart (systemctl restart probed)")
            }
        }
    }

    /// SIGTERM/SIGINT: stop accepting, apply everything already received, write the state (with
    /// a state directory), remove the socket (unless systemd owns it), exit 0.
    static func shutdown(signal: Int32, path: String, listenFD: Int32, ownsSocket: Bool, ingest: IngestServer, keeper: StateKeeper,
                         log: Log, notifier: ServiceNotifier) -> Never {
        let name = signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)"
        log.info("\(name) received; no longer accepting connections on \(path), finishing what clients sent")
        notifier.notify("STOPPING=1\nSTATUS=stopping")
        ingest.stopAccepting()
        if ownsSocket { unlink(path) }  // new clients fail at once and queue their events
        close(listenFD)
        ingest.barrier(timeout: .seconds(5))
        // Read nothing more: whatever was read (and acknowledged) is then in the state saved.
        ingest.stopReading(timeout: .seconds(2))
        keeper.save(why: name)
        log.info("stopped\(ownsSocket ? "; removed \(path)" : "; \(path) stays with systemd's probed.socket")")
        exit(0)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}

extension IngestServer {
    /// Takes the listening socket out of the loop: connections waiting in its backlog stay there.
    func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
        unwatch(listenFD)
    }

    /// Ends the ingest loop after its current turn, then waits until the store has applied every
    /// message it read: a client's events are acknowledged only once read, so everything
    /// acknowledged is in the store (and in the state saved next). False when `timeout` passed first.
    @discardableResult
    func stopReading(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .relaxed)
        wake()
        let (seconds, attoseconds) = timeout.components
        let deadline = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        guard finished.wait(timeout: deadline) == .success else { return false }
        let applied = DispatchSemaphore(value: 0)
        feed.submit(.barrier(applied))
        return applied.wait(timeout: deadline) == .success
    }
}

/// Keeps systemd informed while probed runs: `STATUS=` every few seconds (clients, event rate),
/// and `WATCHDOG=1` at half of `$WATCHDOG_USEC` — only while the ingest loop turns and the store
/// answers, so a wedged probed is restarted by systemd (`WatchdogSec=` in probed.service).
final class ServiceReporter: @unchecked Sendable {
    // (1) `@unchecked Sendable`: every field is used by the reporter's own thread only.
    let notifier: ServiceNotifier
    let store: Store
    let ingest: IngestServer
    let log: Log
    static let statusInterval: Duration = .seconds(2)
    /// The ingest loop turns at least once a second; this long without a turn means it is stuck.
    static let stallLimitNs: UInt64 = 10_000_000_000

    init(notifier: ServiceNotifier, store: Store, ingest: IngestServer, log: Log) {
        self.notifier = notifier
        self.store = store
        self.ingest = ingest
        self.log = log
    }

    func start() {
        guard notifier.isEnabled else { return }
        Daemon.startThread("sd-notify", log: log) { [self] in run() }
    }

    func run() {
        let tick = min(notifier.watchdogInterval ?? ServiceReporter.statusInterval, ServiceReporter.statusInterval)
        var lastBeat = ingest.heartbeat.load(ordering: .relaxed)
        var lastBeatChange = Daemon.monotonicMicroseconds() * 1000
        var lastStatus: (time: UInt64, events: UInt64)? = nil
        var stalled = false
        while true {
            let nowNs = Daemon.monotonicMicroseconds() * 1000
            let beat = ingest.heartbeat.load(ordering: .relaxed)
            if beat != lastBeat {
                lastBeat = beat
                lastBeatChange = nowNs
            }
            // Asking the store proves the actor answers; if it never does, no more pings go out.
            let summary = store.blocking { await $0.serviceSummary() }
            let alive = nowNs &- lastBeatChange < ServiceReporter.stallLimitNs
            if alive, notifier.watchdogInterval != nil { notifier.notify("WATCHDOG=1") }
            if !alive && !stalled { log.error("the ingest loop has not turned for 10 s; withholding the watchdog ping") }
            stalled = !alive
            if lastStatus == nil || nowNs &- lastStatus!.time >= 1_900_000_000 {
                var rate = 0.0
                if let last = lastStatus, nowNs > last.time {
                    rate = Double(summary.eventsReceived &- last.events) / (Double(nowNs - last.time) / 1e9)
                }
                notifier.notify("STATUS=\(summary.connectedProcesses) clients connected, \(Int(rate.rounded())) events/s, \(summary.series) series")
                lastStatus = (nowNs, summary.eventsReceived)
            }
            let (s, atto) = tick.components
            usleep(UInt32(max(10_000, s * 1_000_000 + atto / 1_000_000_000_000)))
        }
    }
}
