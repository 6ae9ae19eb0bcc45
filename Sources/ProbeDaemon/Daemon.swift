// probed, assembled: Daemon.main parses the settings (Service/), claims the socket, creates the
// Store (Store/) and starts each part on threads of its own — the ingest loop (Ingest/), the
// control server (Control/), the metrics endpoint (Metrics/), the memory and GPU samplers
// (Memory/, GPU/) and the systemd reporter (Service/) — then waits for signals. Each folder's
// main file says what that part owns and what it may call; the statistics themselves are the
// ProbeStatistics target.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbeControl
import ProbePosix
import ProbeWire

/// probed's entry point: parse the command line, claim the socket, run until SIGTERM/SIGINT.
public enum Daemon {
    /// Who may connect, in words for the start line: "root" when probed runs as root,
    /// "uid 1000 and root" otherwise, and the members of `--allow-group`.
    static func allowedClients(uid: uid_t, group: String?) -> String {
        let own = uid == 0 ? ["root"] : ["uid \(uid)", "root"]
        let all = own + (group.map { ["members of group \($0)"] } ?? [])
        return all.count == 1 ? all[0] : all.dropLast().joined(separator: ", ") + " and " + all.last!
    }

    public static func main(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(DaemonOptions.usage)
            exit(0)
        }
        if arguments.contains("--version") {
            print("probed \(probeVersion) (protocol \(WireProtocol.version))")
            exit(0)
        }
        var settings: DaemonSettings
        do {
            settings = try DaemonSettings.resolve(arguments)
        } catch let error as ConfigFile.Invalid {
            // Every bad line, PATH:LINE: reason, in file order: one run shows them all.
            for problem in error.problems { Log.startError("probed: \(problem)") }
            if error.problems.count > 1 {
                Log.startError("probed: \(error.problems.count) problems; fix them, then check again with probed --check-config")
            }
            exit(2)
        } catch {
            Log.startError("probed: \(error)")  // one line and a hint, as probectl does
            Log.startError(Log.underSystemd ? "probed: the options are in probed --help and man probed" : DaemonOptions.hint)
            exit(2)
        }
        if settings.checkOnly {
            print(settings.render())
            exit(0)
        }
        var options = settings.options
        let log = Log(level: options.logLevel)
        signal(SIGPIPE, SIG_IGN)
        raiseDescriptorLimit()
        keepFreedMessageMemory()
        let notifier = ServiceNotifier()

        // Under socket activation systemd's probed.socket owns the socket file; else probed does.
        let activated: (fd: Int32, path: String)?
        do {
            activated = try SocketActivation.inherited()
        } catch {
            log.error("\(error)")
            exit(1)
        }
        let path = activated?.path ?? SocketPath.forDaemon(explicit: options.socketPath)
        let listenFD: Int32
        if let activated {
            listenFD = activated.fd
            if let asked = options.socketPath, asked != path {
                log.warning("socket \(asked) ignored: systemd passed \(path) (probed.socket decides the path)")
            }
        } else {
            do {
                listenFD = try claimSocket(at: path, log: log)
            } catch {
                log.error("\(error)")
                exit(1)
            }
        }
        if activated == nil || options.allowGroup != nil {
            SocketFileAccess.apply(to: path, allowGroup: options.allowGroup, log: log)
        }

        // Block the shutdown signals in every thread; one thread waits for them with sigwait.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let store = Store(configuration: .init(
            warmup: options.warmup, socketPath: path, memory: options.memory, maxSeries: options.maxSeries, log: log,
            callLogBudgetBytes: options.callLogMemory))
        let feed = StoreFeed()
        let control = ControlServer(store: store, log: log)
        control.statePolicy = .changingState(options)
        let ingest: IngestServer
        do {
            ingest = try IngestServer(listenFD: listenFD, feed: feed, log: log, policy: .connecting(options), control: control,
                                      helloTimeout: options.helloTimeout, limits: ConnectionLimits(maxClients: options.maxClients))
        } catch {
            log.error("cannot start: \(error)")
            if activated == nil { unlink(path) }
            exit(1)
        }
        control.ingest = ingest
        if let asked = ingest.limits.lowered {
            log.warning("--max-clients \(asked) is more than the descriptor limit (\(ConnectionLimits.descriptorLimit())) leaves room for: serving at most \(ingest.limits.maxClients) clients (raise LimitNOFILE to serve more)")
        }
        // The state of the last run, before any client is served (ingest starts below).
        let keeper = StateKeeper(store: store, directory: options.effectiveStateDirectory, interval: options.stateInterval, log: log,
                                 thresholds: { [thresholds = ingest.thresholds] in thresholds.all })
        for t in keeper.load() { ingest.thresholds.set(t.operation, nanoseconds: t.nanoseconds) }
        var metrics: MetricsServer? = nil
        if let address = options.metricsAddress {
            do {
                metrics = try MetricsServer(address: address, store: store, log: log)
            } catch {
                // A name that does not resolve is a bad argument (2); a refused bind is a failure (1).
                let unresolvable = if case .unresolvable = error { true } else { false }
                Log.startError("probed: --metrics-listen \(address): \(error)\(unresolvable ? "" : "; choose another address or port")")
                if activated == nil { unlink(path) }
                exit(unresolvable ? 2 : 1)
            }
        }
        Task.detached { await feed.drain(into: store) }
        startThread("ingest", log: log) { ingest.run() }
        keeper.start(log: log)
        MemorySampler(store: store, interval: options.memory.sampleInterval, log: log).start()
        GPUSampler(store: store, interval: options.memory.sampleInterval, libraryPath: options.nvmlLibrary, log: log).start()
        let who = Daemon.allowedClients(uid: geteuid(), group: options.allowGroup.map { "\($0)" })
        log.info("listening on \(path)\(activated == nil ? "" : " (from systemd)") (protocol \(WireProtocol.version), warm-up \(options.warmup) calls, pid \(getpid()); clients allowed: \(who)\(settings.configPath.map { "; settings from \($0)" } ?? ""))")
        if let metrics {
            startThread("metrics", log: log) { metrics.run() }
            let host = options.metricsAddress?.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "*"  // *: every interface
            log.info("serving Prometheus metrics at http://\(host):\(metrics.port)/metrics")
        }
        // Clients are accepted from here on (the ingest thread is running): tell systemd.
        notifier.notify("READY=1\nMAINPID=\(getpid())\nSTATUS=listening on \(path)")
        ServiceReporter(notifier: notifier, store: store, ingest: ingest, log: log).start()

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            if received == SIGHUP {
                reload(&settings, running: &options, log: log, notifier: notifier)
                continue
            }
            shutdown(signal: received, path: path, listenFD: listenFD, ownsSocket: activated == nil, ingest: ingest, keeper: keeper,
                     log: log, notifier: notifier)
        }
    }

    /// Starts a thread probed cannot do without (ingest, metrics, samplers, systemd notices). When
    /// the system refuses one (a limit on threads or memory), says so and exits 1 rather than run
    /// without it.
    static func startThread(_ name: String, log: Log, _ body: @escaping @Sendable () -> Void) {
        do {
            try DetachedThread.start(name: name, body)
        } catch {
            log.error("\(error); probed stops")
            exit(1)
        }
    }

    /// Binds `path`. A live daemon there is an error; a stale socket file (left by a crash) is replaced.
    static func claimSocket(at path: String, log: Log) throws(StartError) -> Int32 {
        if SocketPath.isSocket(path) {
            if UnixSocket.isLive(path: path) {
                throw StartError(description: "another probed is already listening on \(path); stop it first, or start this one with --socket PATH")
            }
            log.info("replacing stale socket \(path) (no daemon answers on it)")
            unlink(path)
        } else if access(path, F_OK) == 0 {
            throw StartError(description: "\(path) exists and is not a socket; remove it or choose another path with --socket")
        }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty && access(directory, F_OK) != 0 {
            mkdir(directory, 0o755)
        }
        do {
            return try UnixSocket.listen(path: path, mode: 0o600)  // widened to match --allow-group after
        } catch {
            throw StartError(description: "cannot listen on \(path): \(error)")
        }
    }

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    /// Each EVENTS message is decoded into a fresh array of up to 64 KiB, freed moments later by
    /// the store. With glibc's default trim threshold the ingest thread's heap gave those pages
    /// back to the kernel and faulted them in (zeroed) again for the next message: a sixth of
    /// probed's time under load. Keeping up to 32 MiB of freed memory (the store feed holds at
    /// most 256 messages, 16 MiB) stops the churn; memory stays bounded by that figure. Blocks up
    /// to 16 MiB (a stats reply for 5,000 series is 6 MiB) come from the heap for the same reason.
    static func keepFreedMessageMemory() {
        keepFreedHeap(trimThreshold: 32 << 20, mmapThreshold: 16 << 20)
    }

    /// Idle clients each hold a descriptor: take the hard limit rather than the default 1024.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = min(limit.rlim_max, 1 << 20)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
