import ProbePosix

/// probed's settings, from its command line.
public struct DaemonOptions: Sendable, Equatable {
    public var socketPath: String? = nil
    public var warmup = 10
    public var logLevel = Log.Level.info
    /// `--metrics-listen`: where to serve Prometheus metrics; nil (the default) serves none.
    public var metricsAddress: TCPAddress? = nil
    public var memory = MemoryOptions()
    /// `--allow-group`: members (primary or supplementary) may connect; the socket file is theirs too.
    public var allowGroup: GroupRef? = nil
    /// `--control-group`: members may change state (reset); others allowed to connect may only read.
    public var controlGroup: GroupRef? = nil
    /// `--nvml-library`: the NVML library file to load; nil: `$PROBED_NVML_LIBRARY`, else libnvidia-ml.so.1.
    public var nvmlLibrary: String? = nil
    /// `--max-series`: the most series probed holds; new ones past it are refused, counted and logged.
    public var maxSeries = DaemonOptions.defaultMaxSeries
    public static let defaultMaxSeries = 100_000
    /// `--hello-timeout`: a connection that has sent neither HELLO nor CONTROL_REQUEST this long
    /// after it was accepted is closed and logged with its pid (a descriptor held by a silent peer).
    public var helloTimeout: UInt64 = DaemonOptions.defaultHelloTimeout
    public static let defaultHelloTimeout: UInt64 = 5_000_000_000
    /// `--max-clients`: the most client connections (that said HELLO) held at once; more are
    /// refused with ERROR `limit_exceeded`. Lowered at start to what the descriptor limit allows.
    public var maxClients = DaemonOptions.defaultMaxClients
    public static let defaultMaxClients = 4_096
    /// `--call-log-memory`: bytes the slow and failed calls kept for `probectl slow|errors` may
    /// hold, all operations together; past it the operation holding the most gives up its oldest.
    public var callLogMemory = Store.Configuration.defaultCallLogBudgetBytes
    /// `--state-dir`: where probed keeps its state across restarts; nil: `$STATE_DIRECTORY` (set
    /// by systemd's `StateDirectory=`), else none — nothing is written.
    public var stateDirectory: String? = nil
    /// `--state-interval`: how often the state is written (also on SIGTERM). Default 1 min.
    public var stateInterval: UInt64 = 60_000_000_000

    /// The state directory in effect: `--state-dir`, else the first of `$STATE_DIRECTORY`'s paths.
    public var effectiveStateDirectory: String? {
        if let stateDirectory { return stateDirectory }
        guard let env = SocketPath.environment("STATE_DIRECTORY"), let first = env.split(separator: ":").first else { return nil }
        return String(first)
    }

    public init() {}

    public struct UsageError: Error, CustomStringConvertible {
        public var description: String
    }

    public static let usage = """
        usage: probed [--socket PATH] [--warmup N] [--log-level error|warning|info|debug]
                      [--metrics-listen ADDRESS:PORT]
                      [--sample-interval DURATION] [--leak-threshold SIZE] [--leak-window DURATION]
                      [--allow-group GROUP] [--control-group GROUP] [--config PATH]
                      [--max-series N] [--max-clients N] [--hello-timeout DURATION]
                      [--call-log-memory SIZE] [--nvml-library PATH]
                      [--exited-retention DURATION] [--state-dir DIR] [--state-interval DURATION]
               probed --check-config [--config PATH] [FLAGS]
               probed --version | --help

          --socket PATH     listen here (env PROBED_SOCKET); default: $RUNTIME_DIRECTORY/probed.sock
                            under systemd (/run/probed/probed.sock with the probed.service unit),
                            else $XDG_RUNTIME_DIR/probed.sock, else /tmp/probed-<uid>.sock.
                            Clients and probectl take the first that exists of
                            /run/probed/probed.sock, $XDG_RUNTIME_DIR/probed.sock,
                            /tmp/probed-<uid>.sock
          --warmup N        keep the first N calls of each series out of latency figures (default 10)
          --log-level L     least severe level logged (default info)
          --metrics-listen ADDRESS:PORT
                            serve Prometheus metrics at http://ADDRESS:PORT/metrics (default: off);
                            e.g. 127.0.0.1:9464, [::1]:9464, or :9464 for every interface
          --sample-interval DURATION
                            how often each client's resident memory is read, 100ms to 60s (default 1s)
          --leak-threshold SIZE
                            growth per minute flagged as a suspected leak when steady, e.g. 512KiB,
                            1MiB (the default), 10MB
          --leak-window DURATION
                            recent span the memory trend is fitted over, 20s to 15m (default 5m)
          --allow-group GROUP
                            members of GROUP may connect too (default: only probed's own user and
                            root); the socket file becomes mode 0660, group GROUP
          --control-group GROUP
                            members of GROUP may change state (probectl reset) as well as probed's
                            own user and root; everybody allowed to connect may read
          --max-series N    hold at most N series (default 100000, ~32 KiB each at most); a new
                            operation past it is refused: counted (probectl status: series_refused),
                            logged once per client connection with its pid, its events not measured
          --max-clients N   serve at most N client connections at once (default 4096; lowered at
                            start to the descriptor limit less a reserve for probectl, /metrics
                            and /proc); more are refused with limit_exceeded, which clients log
          --call-log-memory SIZE
                            memory for the slow and failed calls kept for probectl slow/errors, all
                            operations together, 1MiB to 64GiB (default 64MiB); past it the operation
                            holding the most gives up its oldest calls
          --hello-timeout DURATION
                            close a connection that sends neither HELLO nor a control request
                            this long after connecting, logging its pid, 100ms to 10m (default 5s)
          --exited-retention DURATION
                            how long a client process that exited stays listed (status, procs, its
                            own stats rows) before its series fold into one retired row per
                            operation, 1s to 24h (default 10m)
          --state-dir DIR   keep statistics, call logs, thresholds and memory histories in DIR
                            across restarts (env STATE_DIRECTORY, as systemd's StateDirectory=
                            sets it; default: none, nothing is written)
          --state-interval DURATION
                            how often the state is written to --state-dir, 1s to 1h (default 1m;
                            also on SIGTERM)
          --config PATH     read settings from PATH, `key = value` lines named like the flags
                            (default /etc/probed.conf when it exists); flags override the file
          --check-config    validate the file and flags, print the effective settings, and exit
          --nvml-library PATH
                            NVIDIA's NVML library to load for GPU figures, sampled at --sample-interval
                            (env PROBED_NVML_LIBRARY; default libnvidia-ml.so.1; absent: no GPU figures)
        """

    /// The hint under a usage error: the whole usage is `--help`.
    public static let hint = "usage: probed [FLAGS]; probed --help lists them"

    /// Parses `arguments` (without the program name). Throws a message naming the bad argument.
    public static func parse(_ arguments: [String], base: DaemonOptions = DaemonOptions()) throws(UsageError) -> DaemonOptions {
        var o = base
        var i = 0
        func value(_ flag: String) throws(UsageError) -> String {
            i += 1
            guard i < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            let arg = arguments[i]
            var (flag, inline) = (arg, String?.none)
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                flag = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            func take() throws(UsageError) -> String { if let inline { return inline }; return try value(flag) }
            /// The flag's value as a whole number in `range`.
            func wholeNumber(_ range: ClosedRange<Int>) throws(UsageError) -> Int {
                let text = try take()
                guard let n = Int(text), range.contains(n) else {
                    throw UsageError(description: "\(flag): \"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            /// The flag's value as a duration (ns) in `range`, which `allowed` states with examples.
            func duration(_ range: ClosedRange<UInt64>, _ allowed: String) throws(UsageError) -> UInt64 {
                let text = try take()
                guard let ns = MemoryOptions.parseDuration(text), range.contains(ns) else {
                    throw UsageError(description: "\(flag): \"\(text)\" is not a duration \(allowed)")
                }
                return ns
            }
            switch flag {
            case "--socket":
                let path = try take()
                guard !path.isEmpty, path.utf8.count < 108 else {
                    throw UsageError(description: "--socket: the path must be 1 to 107 bytes long (a Unix socket limit)")
                }
                o.socketPath = path
            case "--warmup":
                o.warmup = try wholeNumber(0...1_000_000)
            case "--log-level":
                let text = try take()
                guard let level = Log.Level(name: text) else {
                    throw UsageError(description: "--log-level: \"\(text)\" is not one of error, warning, info, debug")
                }
                o.logLevel = level
            case "--metrics-listen":
                let text = try take()
                do {
                    o.metricsAddress = try TCPAddress(parsing: text)
                } catch {
                    throw UsageError(description: "--metrics-listen: \(error)")
                }
            case "--sample-interval":
                o.memory.sampleInterval = try duration(MemoryOptions.minimumInterval...MemoryOptions.maximumInterval, "from 100ms to 60s (e.g. 500ms, 1s, 2s)")
            case "--leak-threshold":
                let text = try take()
                guard let bytes = MemoryOptions.parseSize(text), bytes >= 1024, bytes <= 1e15 else {
                    throw UsageError(description: "--leak-threshold: \"\(text)\" is not a size per minute from 1KiB up (e.g. 512KiB, 1MiB, 10MB)")
                }
                o.memory.leakThresholdBytesPerMinute = bytes
            case "--leak-window":
                o.memory.leakWindow = try duration(20_000_000_000...900_000_000_000, "from 20s to 15m (e.g. 2m, 5m)")
            case "--allow-group", "--control-group":
                let text = try take()
                guard let group = GroupRef.resolve(text) else {
                    throw UsageError(description: "\(flag): there is no group \"\(text)\" on this system; create it (groupadd \(text)) or name another")
                }
                if flag == "--allow-group" { o.allowGroup = group } else { o.controlGroup = group }
            case "--max-series":
                o.maxSeries = try wholeNumber(1...10_000_000)
            case "--max-clients":
                o.maxClients = try wholeNumber(1...1_000_000)
            case "--call-log-memory":
                let text = try take()
                guard let bytes = MemoryOptions.parseSize(text), bytes >= 1_048_576, bytes <= 68_719_476_736 else {
                    throw UsageError(description: "--call-log-memory: \"\(text)\" is not a size from 1MiB to 64GiB (e.g. 16MiB, 64MiB, 1GiB)")
                }
                o.callLogMemory = Int(bytes)
            case "--hello-timeout":
                o.helloTimeout = try duration(100_000_000...600_000_000_000, "from 100ms to 10m (e.g. 2s, 5s, 30s)")
            case "--exited-retention":
                o.memory.exitedRetention = try duration(1_000_000_000...86_400_000_000_000, "from 1s to 24h (e.g. 30s, 10m, 1h)")
            case "--state-dir":
                let path = try take()
                guard !path.isEmpty else { throw UsageError(description: "--state-dir needs a directory") }
                o.stateDirectory = path
            case "--state-interval":
                o.stateInterval = try duration(1_000_000_000...3_600_000_000_000, "from 1s to 1h (e.g. 10s, 1m, 5m)")
            case "--nvml-library":
                let path = try take()
                guard !path.isEmpty else { throw UsageError(description: "--nvml-library needs a path to a library file") }
                o.nvmlLibrary = path
            default:
                throw UsageError(description: "unknown argument \"\(arg)\"")
            }
            i += 1
        }
        return o
    }
}
