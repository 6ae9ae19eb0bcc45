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
          stats [OPERATION]
                    latency, calls, errors and rate per operation (per process, and merged),
                    per-item latency of batches, slow calls, per-call memory deltas where kept
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
          --socket PATH   the daemon's socket (env PROBED_SOCKET; default: the first that exists of
                          /run/probed/probed.sock, $XDG_RUNTIME_DIR/probed.sock, /tmp/probed-<uid>.sock)
          --window W      stats over the last 10s, 1m, 5m or 15m, or all since each series began
                          (default: 1m in the table, all with --json)
          --json          print the daemon's JSON (schema_version, snake_case keys)
          --follow, -f    slow and errors: print new entries as they arrive until interrupted
          --help          this text
        """

    /// Each command's synopsis: the hint under a usage error about that command.
    static let synopses: [String: String] = [
        "status": "usage: probectl [--socket PATH] status [--json]",
        "stats": "usage: probectl [--socket PATH] stats [OPERATION] [--window 10s|1m|5m|15m|all] [--json]",
        "procs": "usage: probectl [--socket PATH] procs [--json]",
        "gpu": "usage: probectl [--socket PATH] gpu [--json]",
        "reset": "usage: probectl [--socket PATH] reset [--json]",
        "slow": "usage: probectl [--socket PATH] slow [OPERATION] [--follow] [--json]",
        "errors": "usage: probectl [--socket PATH] errors [OPERATION] [--follow] [--json]",
        "threshold": "usage: probectl [--socket PATH] threshold [OPERATION DURATION|off] [--json]",
    ]

    struct Invocation {
        var socket: String?
        var command: String?
        var positional: [String] = []
        var json = false
        var follow = false
        var window: StatsWindow?
    }

    static func parseWindow(_ text: String?) -> StatsWindow {
        guard let text, !text.isEmpty else { usageError("--window needs a value: \(StatsWindow.choices)", command: "stats") }
        guard let window = StatsWindow(rawValue: text) else {
            usageError("unknown window \"\(text)\"; use \(StatsWindow.choices)", command: "stats")
        }
        return window
    }

    public static func main(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
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
            case "--follow", "-f":
                inv.follow = true
            case "--socket":
                i += 1
                guard i < arguments.count else { usageError("--socket needs a path", command: inv.command) }
                inv.socket = arguments[i]
            case _ where arg.hasPrefix("--socket="):
                inv.socket = String(arg.dropFirst("--socket=".count))
            case "--window":
                i += 1
                inv.window = parseWindow(i < arguments.count ? arguments[i] : nil)
            case _ where arg.hasPrefix("--window="):
                inv.window = parseWindow(String(arg.dropFirst("--window=".count)))
            case _ where arg.hasPrefix("-") && arg.count > 1:
                usageError("unknown option \"\(arg)\"", command: inv.command)
            case "top" where inv.command == nil:
                Top.main(socket: inv.socket, Array(arguments[(i + 1)...]))
            default:
                if inv.command == nil { inv.command = arg } else { inv.positional.append(arg) }
            }
            i += 1
        }
        guard let command = inv.command else { usageError("no command given") }
        guard synopses[command] != nil else {
            let suggestion = suggest(command).map { " (did you mean \($0)?)" } ?? ""
            usageError("unknown command \"\(command)\"\(suggestion)")
        }
        if inv.window != nil && command != "stats" { usageError("--window applies only to stats", command: command) }
        if inv.follow && !["slow", "errors"].contains(command) { usageError("--follow applies only to slow and errors", command: command) }
        if callDetailCommands.contains(command) { runCallDetail(command, inv) }
        let operation = inv.positional.first
        switch (command, inv.positional.count) {
        case (_, 0), ("stats", 1): break
        case ("stats", _): usageError("stats takes at most one operation, got \(inv.positional.joined(separator: " "))", command: command)
        default: usageError("\(command) takes no arguments, got \"\(inv.positional[0])\"", command: command)
        }
        // The table shows now (the last minute); JSON keeps the lifetime figures it always had.
        let window = inv.window ?? (inv.json ? .all : .oneMinute)
        var request = JSONWriterRequest(command)
        if command == "stats" {
            request.add("window", window.rawValue)
            if let operation { request.add("operation", operation) }
        }

        let path = SocketPath.forClient(explicit: inv.socket)
        let text: String
        do {
            let client = try ControlClient(path: path)
            defer { client.close() }
            text = try client.request(request.text)
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
            print(Format.wrap(resetMessage(text), width: outputWidth))
            exit(0)
        }
        let width = outputWidth
        do {
            switch command {
            case "status": print(try render(status: JSONDecoder.snakeCase.decode(StatusReport.self, from: Data(text.utf8)), width: width))
            case "procs": print(try render(procs: JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(text.utf8)), width: width))
            case "gpu": print(try render(gpu: JSONDecoder.snakeCase.decode(GPUReport.self, from: Data(text.utf8)), width: width))
            default:
                var report = try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(text.utf8))
                if let operation { report.operations.removeAll { $0.operation != operation } }  // a probed that predates the filter
                print(render(stats: report, width: width, operation: operation))
            }
        } catch {
            fail("could not read probed's answer (\(error)); is probectl older than probed? Try --json")
        }
        exit(0)
    }

    /// The width of the terminal on standard output: `$COLUMNS` when it is set to a width (as
    /// `ls` reads it), else the terminal's own; nil when standard output is not a terminal (a
    /// pipe, a file), and tables then show every column.
    static var outputWidth: Int? {
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        if let text = getenv("COLUMNS"), let columns = Int(String(cString: text)), columns > 0 { return columns }
        return terminalColumns(STDOUT_FILENO)
    }

    /// A usage error, as git reports one: the problem in one line, then one hint — the command's
    /// synopsis when the error is about a command, else where the full usage is. Exit status 2.
    static func usageError(_ message: String, command: String? = nil) -> Never {
        let hint = command.flatMap { synopses[$0] } ?? "see probectl --help"
        usageError(message, hint: hint)
    }

    static func usageError(_ message: String, hint: String) -> Never {
        writeStandardError("probectl: \(message)\n\(hint)\n")
        exit(2)
    }

    /// The command `word` was probably meant to be: the one fewest edits away, at most two
    /// (`stat`, `thresholds`, `eror`); nil when none is, or two are as close.
    static func suggest(_ word: String) -> String? {
        let ranked = (Array(synopses.keys) + ["top"]).map { ($0, editDistance($0, word)) }.filter { $0.1 <= 2 }.sorted { $0.1 < $1.1 }
        guard let best = ranked.first, ranked.dropFirst().first?.1 != best.1 else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// Prints `message` and exits 1. Its lines stay lines (a message may add a hint on a line of
    /// its own); any other control character, which could come from a peer, is escaped.
    static func fail(_ message: String) -> Never {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map { $0.escapingControlCharacters() }
        writeStandardError("probectl: \(lines.joined(separator: "\n"))\n")
        exit(1)
    }

    public static func render(status s: StatusReport, width: Int? = nil) -> String {
        var lines = [
            "probed \(s.version) up \(Format.uptime(s.uptimeNs)), pid \(s.pid), socket \(s.socket)",
            "warm-up: first \(s.warmupCalls) calls of each series excluded from latency",
            "\(s.connectedProcesses) connected processes, \(s.series) series, \(s.eventsReceived) events received, \(s.droppedEvents) dropped by clients, \(s.messagesRejected) messages rejected",
        ]
        if s.upToDate == false {
            lines.append("probed is behind its clients: messages they queued before this request are not counted yet")
        }
        if let retired = s.retiredProcesses, retired > 0 {
            lines.append("\(retired) exited processes folded into \(s.retiredSeries ?? 0) retired series (after \(Format.uptime(s.exitedRetentionNs ?? 0)) gone)")
        }
        if let dir = s.stateDir {
            lines.append("state kept in \(dir)" + (s.stateSavedAgoNs.map { ", last saved \(Format.uptime($0)) ago" } ?? ", not saved yet"))
        }
        if let refused = s.seriesRefused, refused > 0 {
            lines.append("\(refused) new series refused (probed holds at most --max-series \(s.maxSeries ?? 0)); \(s.eventsRefused ?? 0) of their events counted, not measured")
        }
        if let refused = s.connectionsRefused, refused > 0 {
            lines.append("\(refused) connections refused (probed serves at most --max-clients \(s.maxClients ?? 0) clients, within its descriptor limit)")
        }
        if let evicted = s.callLogEvicted, evicted > 0 {
            lines.append("\(evicted) slow/failed calls evicted to keep the call logs within \(Format.bytes(UInt64(s.callLogBudgetBytes ?? 0))) (the oldest of the operations holding the most)")
        }
        var out = lines.map { Format.wrap($0, width: width) }.joined(separator: "\n")
        if !s.processes.isEmpty {
            var t = TextTable(["SERVICE", "PID", "STATE", "OPS", "EVENTS", "DROPPED"], rightAligned: [1, 3, 4, 5],
                              fit: [.drop("OPS"), .shrink("SERVICE", to: 12), .drop("STATE"), .shrink("SERVICE", to: 8)])
            for p in s.processes {
                t.add([p.service, String(p.pid), p.state, String(p.operations), String(p.eventsReceived), String(p.droppedEvents)])
            }
            out += "\n\n" + t.render(width: width)
        }
        return out
    }

    /// The order in which `stats` gives way in a narrow terminal: first the figures an operator
    /// needs least (memory totals, the outer percentiles), names shortened (the service first)
    /// before the rate and median go, then service and operation share a column and shorten
    /// further (the service first); calls and p99 stay.
    static let statsFit: [TextTable.Step] = [
        .drop("MEMΔ TOTAL"), .drop("MEMΔ MAX"), .drop("MIN"), .drop("P90"), .drop("P99.9"), .drop("WARMUP"), .drop("MEAN"),
        .drop("ITEMS/S"), .drop("MAX"), .drop("MEMΔ MEAN"), .drop("P99 ALL"),
        .shrink("SERVICE", to: 10), .shrink("OPERATION", to: 16),
        .drop("SLOW"), .drop("MEAN/ITEM"), .drop("RATE/S"), .drop("P50"),
        .merge("SERVICE", into: "OPERATION"), .shrink("OPERATION", to: 14), .drop("PID"), .drop("ERRORS"), .shrink("OPERATION", to: 9),
    ]

    public static func render(stats s: StatsReport, width: Int? = nil, operation: String? = nil) -> String {
        guard !s.operations.isEmpty else {
            return operation.map { "no operation named \"\($0)\" recorded yet (probectl stats lists them all)" } ?? "no operations recorded yet"
        }
        let windowed = s.window != StatsWindow.all.rawValue
        let memory = memoryHeader(s)
        let batched = s.operations.contains(where: isBatched)
        let slow = s.operations.contains { ($0.slowCalls ?? 0) > 0 }
        var header = ["SERVICE", "OPERATION", "PID", "CALLS", "ERRORS", "WARMUP", "RATE/S", "MIN", "MEAN", "P50", "P90", "P99"]
        if windowed { header.append("P99 ALL") }
        header += ["P99.9", "MAX"] + (batched ? ["ITEMS/S", "MEAN/ITEM"] : []) + (slow ? ["SLOW"] : []) + (memory ?? [])
        var t = TextTable(header, rightAligned: Set(2..<header.count), fit: statsFit)
        func cells(_ r: OperationRow, pid: String, indent: Bool = false) -> [String] {
            row(r, pid: pid, lifetimeP99: windowed, indent: indent)
                + (batched ? (isBatched(r) ? [r.itemsPerS.map(Format.rate) ?? "-", Format.duration(r.meanPerItemNs)] : ["-", "-"]) : [])
                + (slow ? [r.slowCalls.map(String.init) ?? "-"] : [])
                + (memory == nil ? [] : memoryCells(r))
        }
        // A null pid is the merged row, or (merged false) the retired row of the processes gone.
        let merged = s.operations.filter { $0.pid == nil && $0.merged != false }
        for m in merged {
            let members = s.operations.filter { ($0.pid != nil || $0.merged == false) && $0.service == m.service && $0.operation == m.operation }
            t.add(cells(m, pid: members.count == 1 ? pidCell(members[0]) : "all"))
            if members.count > 1 {
                for p in members { t.add(cells(p, pid: pidCell(p), indent: true)) }
            }
        }
        let (lines, hidden) = t.fitted(width: width)
        let shown = { (column: String) in header.contains(column) && !hidden.contains(column) }
        // What the figures cover, for the columns shown.
        var notes = [windowed
            ? "calls, rate and latency \(StatsWindow(rawValue: s.window)?.phrase ?? "over \(s.window)")"
            : "calls and latency since each series began, rate over the last 10 s"]
        if shown("P99 ALL") { notes.append("P99 ALL since each series began") }
        notes.append("latency over successful calls past warm-up")
        if shown("MEAN/ITEM") { notes.append("MEAN/ITEM: latency per item of batched calls, since each series began") }
        if shown("SLOW") { notes.append("SLOW: calls over their slow threshold, since each series began (probectl slow lists them)") }
        if shown("MEMΔ MEAN") { notes.append("MEMΔ: change in resident memory per memory-tracked call, since each series began") }
        let hiddenNote = width.flatMap { TextTable.note(hidden: hidden, width: $0) }
        return (lines + (hiddenNote.map { [$0] } ?? []) + [Format.wrap("(" + notes.joined(separator: "; ") + ")" + warningNotes(s), width: width)])
            .joined(separator: "\n")
    }

    /// Whether an operation processes batches: its calls carried items other than one each.
    /// Decided on lifetime figures (`items` is since the series began).
    static func isBatched(_ r: OperationRow) -> Bool {
        guard let items = r.items, items > 0, r.meanPerItemNs != nil else { return false }
        if let lifetimeCalls = r.lifetimeCalls { return items != lifetimeCalls }
        return r.window == StatsWindow.all.rawValue ? items != r.calls : true
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
