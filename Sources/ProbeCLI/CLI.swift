#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix

/// probectl: the operator's view of probed. Exit status 0 on success, 1 when the daemon is
/// unreachable or refuses, 2 on a usage error.
public enum CLI {
    public static let usage = """
        usage: probectl [--socket PATH] COMMAND [--json]

        commands:
          status    is probed up; its version, uptime, connected processes and their drops
          stats     latency, calls, errors and rate per operation (per process, and merged),
                    with per-call memory deltas where operations track them
          procs     client processes: resident memory now and peak, growth per minute, leak suspicion
          gpu       GPUs (via NVML): memory, utilisation, temperature, power, and the processes on each
          top       live view: busiest operations and client processes, refreshed in place
                    (probectl top --help for its options and keys)
          reset     clear every operation's statistics (needs probed's user, root or --control-group)
          slow [OPERATION] [--follow]
                    recent slow calls, newest first, with their attributes (--follow: stream new ones)
          errors [OPERATION] [--follow]
                    recent failures with error type and message; error rate over the last minute
          threshold [OPERATION DURATION|off]
                    set probed's slow-call threshold for an operation (e.g. 50ms), or list them

        options:
          --socket PATH   the daemon's socket (env PROBED_SOCKET; default as probed resolves it)
          --window W      stats over the last 10s, 1m, 5m or 15m, or all since each series began
                          (default: 1m in the table, all with --json)
          --json          print the daemon's JSON (schema_version, snake_case keys)
          --follow, -f    slow and errors: print new entries as they arrive until interrupted
          --help          this text
        """

    struct Invocation {
        var socket: String?
        var command: String?
        var json = false
        var window: StatsWindow?
    }

    static func parseWindow(_ text: String?) -> StatsWindow {
        guard let text, !text.isEmpty else { usageError("--window needs a value: \(StatsWindow.choices)") }
        guard let window = StatsWindow(rawValue: text) else {
            usageError("unknown window \"\(text)\"; use \(StatsWindow.choices)")
        }
        return window
    }

    public static func main(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if !arguments.contains("--help") && !arguments.contains("-h") && isCallDetailCommand(arguments) { runCallDetail(arguments) }
        var inv = Invocation()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--help", "-h":
                print(usage)
                exit(0)
            case "--version":
                print("probectl \(probeVersion)")
                exit(0)
            case "--json":
                inv.json = true
            case "--socket":
                i += 1
                guard i < arguments.count else { usageError("--socket needs a path") }
                inv.socket = arguments[i]
            case _ where arg.hasPrefix("--socket="):
                inv.socket = String(arg.dropFirst("--socket=".count))
            case "--window":
                i += 1
                inv.window = parseWindow(i < arguments.count ? arguments[i] : nil)
            case _ where arg.hasPrefix("--window="):
                inv.window = parseWindow(String(arg.dropFirst("--window=".count)))
            case _ where arg.hasPrefix("-"):
                usageError("unknown option \"\(arg)\"")
            case "top" where inv.command == nil:
                Top.main(socket: inv.socket, Array(arguments[(i + 1)...]))
            default:
                guard inv.command == nil else { usageError("unexpected argument \"\(arg)\"") }
                inv.command = arg
            }
            i += 1
        }
        guard let command = inv.command else { usageError("no command given") }
        guard ["status", "stats", "procs", "reset", "gpu"].contains(command) else { usageError("unknown command \"\(command)\"") }
        if inv.window != nil && command != "stats" { usageError("--window applies only to stats") }
        // The table shows now (the last minute); JSON keeps the lifetime figures it always had.
        let window = inv.window ?? (inv.json ? .all : .oneMinute)
        let request = command == "stats"
            ? "{\"command\":\"stats\",\"window\":\"\(window.rawValue)\"}"
            : "{\"command\":\"\(command)\"}"

        let path = SocketPath.forClient(explicit: inv.socket)
        let text: String
        do {
            let client = try ControlClient(path: path)
            defer { client.close() }
            text = try client.request(request)
        } catch {
            fail("\(error)")
        }
        if let refusal = ErrorReport.detect(in: text) {
            fail("probed refused the request: \(refusal.error)")
        }
        if inv.json {
            print(text)
            exit(0)
        }
        if command == "reset" {
            print(resetMessage(text))
            exit(0)
        }
        do {
            switch command {
            case "status": print(try render(status: JSONDecoder.snakeCase.decode(StatusReport.self, from: Data(text.utf8))))
            case "procs": print(try render(procs: JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(text.utf8))))
            case "gpu": print(try render(gpu: JSONDecoder.snakeCase.decode(GPUReport.self, from: Data(text.utf8))))
            default: print(try render(stats: JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(text.utf8))))
            }
        } catch {
            fail("could not read probed's answer (\(error)); is probectl older than probed? Try --json")
        }
        exit(0)
    }

    static func usageError(_ message: String) -> Never {
        writeStandardError("probectl: \(message)\n\n\(usage)\n")
        exit(2)
    }

    static func fail(_ message: String) -> Never {
        writeStandardError("probectl: \(message)\n")
        exit(1)
    }

    public static func render(status s: StatusReport) -> String {
        var out = """
            probed \(s.version) up \(Format.uptime(s.uptimeNs)), pid \(s.pid), socket \(s.socket)
            warm-up: first \(s.warmupCalls) calls of each series excluded from latency
            \(s.connectedProcesses) connected processes, \(s.series) series, \(s.eventsReceived) events received, \(s.droppedEvents) dropped by clients, \(s.messagesRejected) messages rejected
            """
        if s.upToDate == false {
            out += "\nprobed is behind its clients: messages they queued before this request are not counted yet"
        }
        if let retired = s.retiredProcesses, retired > 0 {
            out += "\n\(retired) exited processes folded into \(s.retiredSeries ?? 0) retired series (after \(Format.uptime(s.exitedRetentionNs ?? 0)) gone)"
        }
        if let dir = s.stateDir {
            out += "\nstate kept in \(dir)" + (s.stateSavedAgoNs.map { ", last saved \(Format.uptime($0)) ago" } ?? ", not saved yet")
        }
        if let refused = s.seriesRefused, refused > 0 {
            out += "\n\(refused) new series refused (probed holds at most --max-series \(s.maxSeries ?? 0)); \(s.eventsRefused ?? 0) of their events counted, not measured"
        }
        if !s.processes.isEmpty {
            var t = TextTable(["SERVICE", "PID", "STATE", "OPS", "EVENTS", "DROPPED"], rightAligned: [1, 3, 4, 5])
            for p in s.processes {
                t.add([p.service, String(p.pid), p.state, String(p.operations), String(p.eventsReceived), String(p.droppedEvents)])
            }
            out += "\n\n" + t.render()
        }
        return out
    }

    public static func render(stats s: StatsReport) -> String {
        guard !s.operations.isEmpty else { return "no operations recorded yet" }
        let windowed = s.window != StatsWindow.all.rawValue
        let memory = memoryHeader(s)
        var header = ["SERVICE", "OPERATION", "PID", "CALLS", "ERRORS", "WARMUP", "RATE/S", "MIN", "MEAN", "P50", "P90", "P99"]
        if windowed { header.append("P99 ALL") }
        header += ["P99.9", "MAX"] + (memory ?? [])
        var t = TextTable(header, rightAligned: Set(2..<header.count))
        // A null pid is the merged row, or (merged false) the retired aggregate of processes gone.
        let merged = s.operations.filter { $0.pid == nil && $0.merged != false }
        for m in merged {
            let members = s.operations.filter { ($0.pid != nil || $0.merged == false) && $0.service == m.service && $0.operation == m.operation }
            t.add(row(m, pid: members.count == 1 ? pidCell(members[0]) : "all", lifetimeP99: windowed)
                + (memory == nil ? [] : memoryCells(m)))
            if members.count > 1 {
                for p in members {
                    t.add(row(p, pid: pidCell(p), lifetimeP99: windowed, indent: true) + (memory == nil ? [] : memoryCells(p)))
                }
            }
        }
        let scope = StatsWindow(rawValue: s.window)?.phrase ?? "over \(s.window)"
        var note = windowed
            ? "(calls, rate and latency \(scope), P99 ALL since each series began; latency over successful calls past warm-up"
            : "(calls and latency since each series began, rate over the last 10 s; latency over successful calls past warm-up"
        note += memory == nil ? ")" : "; MEMΔ: change in resident memory per memory-tracked call, since each series began)"
        return t.render() + "\n" + note + warningNotes(s)
    }

    /// A series row's pid; for the retired aggregate, how many processes gone it holds.
    static func pidCell(_ r: OperationRow) -> String {
        r.pid.map(String.init) ?? "\(r.retiredProcesses ?? r.processes) exited"
    }

    static func row(_ r: OperationRow, pid: String, lifetimeP99: Bool, indent: Bool = false) -> [String] {
        var cells = [indent ? "" : r.service, indent ? "  └" : r.operation + warningMark(r), pid, String(r.calls), String(r.errors), String(r.warmup),
                     Format.rate(r.ratePerS), Format.duration(r.minNs), Format.duration(r.meanNs), Format.duration(r.p50Ns),
                     Format.duration(r.p90Ns), Format.duration(r.p99Ns)]
        if lifetimeP99 { cells.append(Format.duration(r.lifetimeP99Ns)) }
        return cells + [Format.duration(r.p999Ns), Format.duration(r.maxNs)]
    }
}

extension JSONDecoder {
    /// Reads probed's reports: their snake_case keys become the properties' names (`p99_ns` →
    /// `p99Ns`, `error_rate_1m` → `errorRate1M`). Keys of String-keyed dictionaries — names users
    /// chose: error types, call attributes, NVML queries — are not converted (ReportKeyTests).
    public static var snakeCase: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}
