#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix
import ProbeStatistics
import Synchronization

/// `probectl top`: a live view of probed, refreshed in place like top(1). The busiest operations
/// over the last 10 s (calls/s, p50, p99, errors/s, warm-up state), then the client processes
/// with their memory. Keys: c, p, e, n sort by calls/s, p99, errors/s, name; q quits. When
/// standard output is not a terminal it prints one plain snapshot per interval instead.
public enum Top {
    public enum Sort: String, CaseIterable, Sendable {
        case calls, p99, errors, name
        var key: Character {
            switch self {
            case .calls: "c"
            case .p99: "p"
            case .errors: "e"
            case .name: "n"
            }
        }
        var label: String {
            switch self {
            case .calls: "calls/s"
            case .p99: "p99"
            case .errors: "errors/s"
            case .name: "name"
            }
        }
    }

    struct Options {
        var socket: String?
        var intervalNs: UInt64 = 1_000_000_000
        var iterations: Int?
        var sort = Sort.calls
    }

    static let usage = """
        usage: probectl [--socket PATH] top [--interval DURATION] [--iterations N] [--sort calls|p99|errors|name]

          --interval DURATION   time between refreshes, 100ms to 60s: 500ms, 1s (the default), 2s
          --iterations N        stop after N refreshes (default: until q, Ctrl-C or SIGTERM)
          --sort KEY            initial order of the operations (default calls)
          keys while running:   c calls/s, p p99, e errors/s, n name, q quit
          not a terminal:       prints one plain snapshot per interval
        """

    /// A usage error of top: the problem, then top's synopsis (exit 2).
    static func usageError(_ message: String) -> Never {
        CLI.usageError("top: \(message)", hint: String(usage.prefix { $0 != "\n" }))
    }

    /// A duration such as `500ms`, `2s`, `1.5s` or `1m` in ns; nil when malformed or too long
    /// for 64 bits of nanoseconds (`1e300s` is refused, not converted).
    static func parseInterval(_ text: String) -> UInt64? {
        for (suffix, scale) in [("ms", 1e6), ("s", 1e9), ("m", 60e9)] where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v.isFinite, v > 0, v * scale < 1.8e19 else { return nil }
            return UInt64((v * scale).rounded())
        }
        return nil
    }

    static func parse(_ arguments: [String], socket: String?) -> Options {
        var o = Options(socket: socket)
        var i = 0
        func value(_ flag: String) -> String {
            i += 1
            guard i < arguments.count, !arguments[i].isEmpty else { usageError("\(flag) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            var arg = arguments[i]
            var inline: String? = nil
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                inline = String(arg[arg.index(after: eq)...])
                arg = String(arg[..<eq])
            }
            func take() -> String { inline ?? value(arg) }
            switch arg {
            case "--help", "-h":
                print(usage)
                exit(0)
            case "--socket":
                o.socket = take()
            case "--interval":
                let text = take()
                guard let ns = parseInterval(text), (100_000_000...60_000_000_000).contains(ns) else {
                    usageError("--interval: \"\(text)\" is not a duration from 100ms to 60s (e.g. 500ms, 1s, 2s)")
                }
                o.intervalNs = ns
            case "--iterations":
                let text = take()
                guard let n = Int(text), n >= 1 else { usageError("--iterations: \"\(text)\" is not a whole number from 1") }
                o.iterations = n
            case "--sort":
                let text = take()
                guard let sort = Sort(rawValue: text) else { usageError("--sort: \"\(text)\" is not one of calls, p99, errors, name") }
                o.sort = sort
            default:
                usageError(arguments[i].hasPrefix("-") ? "unknown option \"\(arguments[i])\"" : "unexpected argument \"\(arguments[i])\"")
            }
            i += 1
        }
        return o
    }

    // MARK: Data

    struct Snapshot {
        var stats: StatsReport
        var procs: ProcsReport
    }

    /// One control session, two requests: the 10 s window and the processes.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func fetch(_ path: String) throws(Failure) -> Snapshot {
        do {
            return try fetchOnce(path)
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(error)")
        }
    }

    static func fetchOnce(_ path: String) throws -> Snapshot {
        let client = try ControlClient(path: path, timeout: .seconds(5))
        defer { client.close() }
        let statsText = try client.request("{\"command\":\"stats\",\"window\":\"10s\"}")
        let procsText = try client.request("{\"command\":\"procs\"}")
        for text in [statsText, procsText] {
            if let refusal = ErrorReport.detect(in: text) {
                throw Failure(description: "probed refused the request: \(refusal.error)")
            }
        }
        do {
            return Snapshot(stats: try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(statsText.utf8)),
                            procs: try JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(procsText.utf8)))
        } catch {
            throw Failure(description: "could not read probed's answer (\(error)); is probectl older than probed?")
        }
    }

    // MARK: Rendering

    static func errorsPerSecond(_ r: OperationRow) -> Double {
        r.spanNs > 0 ? Double(r.errors) / (Double(r.spanNs) / 1e9) : 0
    }

    /// "idle" (no calls in the window), "warming k/N" (every call in the window was warm-up: the
    /// series has not yet made N calls), or "warm".
    static func warmupState(_ r: OperationRow, limit: Int) -> String {
        if r.calls == 0 { return "idle" }
        return r.warmup >= r.calls ? "warming \(r.warmup)/\(limit)" : "warm"
    }

    /// The screen's lines: at most `height` (nil: all) and `width` (nil: any) characters each.
    public static func render(stats: StatsReport, procs: ProcsReport?, sort: Sort, width: Int?, height: Int?, title: String) -> [String] {
        var ops = stats.operations.filter { $0.pid == nil && $0.merged != false }
        switch sort {
        case .calls: ops.sort { ($0.ratePerS, $1.operation) > ($1.ratePerS, $0.operation) }
        case .p99: ops.sort { ($0.p99Ns ?? 0, $1.operation) > ($1.p99Ns ?? 0, $0.operation) }
        case .errors: ops.sort { (errorsPerSecond($0), $1.operation) > (errorsPerSecond($1), $0.operation) }
        case .name: ops.sort { ($0.service, $0.operation) < ($1.service, $1.operation) }
        }
        // Connected processes first, the largest first.
        let processes = (procs?.processes ?? []).sorted {
            let (a, b) = ($0.state == "connected", $1.state == "connected")
            return a != b ? a : ($0.rssBytes ?? 0, $1.pid) > ($1.rssBytes ?? 0, $0.pid)
        }
        var lines = [title]
        // Room: title, blank, header, ops, blank, header, procs, footer.
        var opLimit = ops.count, procLimit = processes.count
        if let height {
            let room = max(2, height - 6)
            procLimit = min(processes.count, max(1, room / 3))
            opLimit = min(ops.count, max(1, room - procLimit))
            procLimit = min(processes.count, max(procLimit, room - opLimit))
        }
        var opTable = TextTable(["OPERATION", "CALLS/S", "P50", "P99", "ERR/S", "WARM-UP", "PROCS"], rightAligned: [1, 2, 3, 4, 6],
                                fit: opFit, shortening: ["OPERATION": .serviceFirst])
        for r in ops.prefix(opLimit) {
            opTable.add([r.service + "/" + r.operation, Format.rate(r.ratePerS), Format.duration(r.p50Ns), Format.duration(r.p99Ns),
                         Format.rate(errorsPerSecond(r)), warmupState(r, limit: stats.warmupCalls), String(r.processes)])
        }
        lines.append("")
        if ops.isEmpty {
            lines.append("no operations recorded yet")
        } else {
            lines += opTable.fitted(width: width).lines
            if ops.count > opLimit { lines.append("… \(ops.count - opLimit) more operations") }
        }
        lines.append("")
        var procTable = TextTable(["PID", "SERVICE", "STATE", "RSS", "PEAK", "GROWTH/MIN", "TREND"], rightAligned: [0, 3, 4, 5],
                                  fit: procFit)
        for p in processes.prefix(procLimit) {
            procTable.add([String(p.pid), p.service, p.state, Format.bytes(p.rssBytes), Format.bytes(p.rssPeakBytes),
                           p.ownedGrowthBytesPerMin.map { Format.bytes(UInt64(saturating: $0)) } ?? "-", p.leakSuspected ? "LEAK?" : Format.trend(p.trend)])
        }
        if processes.isEmpty {
            lines.append("no client processes")
        } else {
            lines += procTable.fitted(width: width).lines
            if processes.count > procLimit { lines.append("… \(processes.count - procLimit) more processes") }
        }
        return width.map { w in lines.map { clip($0, w) } } ?? lines
    }

    /// How the operations give way in a narrow terminal: the process count and warm-up state go
    /// first, then the name shortens (the service before the operation) to a dozen characters,
    /// then errors/s and p50 go, and the name shortens further.
    static let opFit: [TextTable.Step] = [
        .drop("PROCS"), .drop("WARM-UP"), .shrink("OPERATION", to: 12), .drop("ERR/S"), .drop("P50"), .shrink("OPERATION", to: 8),
    ]
    static let procFit: [TextTable.Step] = [
        .drop("PEAK"), .drop("GROWTH/MIN"), .drop("STATE"), .shrink("SERVICE", to: 12), .drop("TREND"), .shrink("SERVICE", to: 6),
    ]

    static func clip(_ s: String, _ width: Int) -> String { Format.shorten(s, to: width, .end) }

    static func title(path: String, sort: Sort, interactive: Bool) -> String {
        var t = time(nil)
        var tm = tm()
        localtime_r(&t, &tm)
        let clock = String(format: "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec)
        let keys = interactive ? "  keys: c p e n sort, q quit" : ""
        return "probectl top  by \(sort.label), last 10 s  \(clock)\(keys)  probed at \(path)"
    }

    // MARK: Running

    public static func main(socket: String?, _ arguments: [String]) -> Never {
        var o = parse(arguments, socket: socket)
        let path = SocketPath.forClient(explicit: o.socket)
        var snapshot: Snapshot
        do {
            snapshot = try fetch(path)
        } catch {
            CLI.fail("\(error)")
        }
        guard isatty(STDOUT_FILENO) == 1 else {
            plain(first: snapshot, path: path, options: o)
        }
        let terminal = Terminal()
        terminal.enter()
        var count = 0
        var problem: String? = nil
        var next = monotonicNs()
        while true {
            if monotonicNs() >= next {
                if count > 0 {
                    do {
                        snapshot = try fetch(path)
                        problem = nil
                    } catch {
                        problem = "\(error)".split(separator: "\n").first.map(String.init) ?? "probed is unreachable"
                    }
                }
                count += 1
                next = monotonicNs() + o.intervalNs
                terminal.draw(frame(snapshot, path: path, sort: o.sort, problem: problem, terminal: terminal))
                if let n = o.iterations, count >= n {
                    // Like top -n: the last frame stays on the screen once the alternate screen is gone.
                    let last = frame(snapshot, path: path, sort: o.sort, problem: problem, terminal: terminal, interactive: false)
                    terminal.leave()
                    FileHandle.standardOutput.write(Data((last.joined(separator: "\n") + "\n").utf8))
                    exit(0)
                }
            }
            let remaining = Top.remaining(until: next, now: monotonicNs())
            switch terminal.waitForInput(milliseconds: Int32(min(remaining / 1_000_000 + 1, 60_000))) {
            case .key(let k):
                if k == "q" || k == "Q" { terminal.leave(); exit(0) }
                if let sort = Sort.allCases.first(where: { $0.key == Character(k.lowercased()) }) {
                    o.sort = sort
                    terminal.draw(frame(snapshot, path: path, sort: o.sort, problem: problem, terminal: terminal))
                }
            case .resized:
                terminal.draw(frame(snapshot, path: path, sort: o.sort, problem: problem, terminal: terminal))
            case .none:
                break
            }
        }
    }

    static func frame(_ s: Snapshot, path: String, sort: Sort, problem: String?, terminal: Terminal, interactive: Bool = true) -> [String] {
        let (rows, cols) = terminal.size()
        // The frame left on the screen at the end keeps a line for the shell's prompt.
        var lines = render(stats: s.stats, procs: s.procs, sort: sort, width: cols, height: rows - (problem == nil ? 0 : 1) - (interactive ? 0 : 1),
                           title: title(path: path, sort: sort, interactive: interactive))
        if let problem { lines.insert(clip("(showing the last answer) \(problem)", cols), at: 1) }
        return lines
    }

    /// Not a terminal: one plain snapshot per interval, separated by blank lines.
    static func plain(first: Snapshot, path: String, options o: Options) -> Never {
        var snapshot = first
        var count = 0
        while true {
            let lines = render(stats: snapshot.stats, procs: snapshot.procs, sort: o.sort, width: nil, height: nil,
                               title: title(path: path, sort: o.sort, interactive: false))
            let text = (count > 0 ? "\n" : "") + lines.joined(separator: "\n") + "\n"
            FileHandle.standardOutput.write(Data(text.utf8))  // unbuffered: a reader sees each snapshot at once
            count += 1
            if let n = o.iterations, count >= n { exit(0) }
            usleep(UInt32(o.intervalNs / 1000))
            do {
                snapshot = try fetch(path)
            } catch {
                CLI.fail("\(error)")
            }
        }
    }

    /// Nanoseconds from `now` until `next`, 0 once it has passed: one clock reading, compared and
    /// subtracted (reading the clock twice, the second reading could pass `next` and trap).
    static func remaining(until next: UInt64, now: UInt64) -> UInt64 {
        next > now ? next - now : 0
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// The terminal while top runs: raw-ish input (no line buffering, no echo; Ctrl-C still
/// signals), the alternate screen, a hidden cursor. Everything is put back on `leave`, and by
/// the signal thread on SIGINT, SIGTERM or SIGHUP.
final class Terminal: @unchecked Sendable {
    // (1) `@unchecked Sendable`: `original` is written once in `enter`, before the signal thread
    //     starts; output goes through `lock`.
    enum Input { case key(String), resized, none }

    private var original = termios()
    private var hasOriginal = false
    private let lock = Mutex(false)  // true once the terminal is restored: nothing more is drawn
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private let keyboard = isatty(STDIN_FILENO) == 1

    func enter() {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        wakeRead = fds[0]
        wakeWrite = fds[1]
        if keyboard, tcgetattr(STDIN_FILENO, &original) == 0 {
            hasOriginal = true
            var raw = original
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 0
                cc[Int(VTIME)] = 0
            }
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let blocked = signals
        Thread.detachNewThread { [self] in
            var set = blocked
            while true {
                var received: Int32 = 0
                guard sigwait(&set, &received) == 0 else { continue }
                if received == SIGWINCH {
                    var byte: UInt8 = 1
                    _ = write(wakeWrite, &byte, 1)
                    continue
                }
                leave()
                exit(128 + received)
            }
        }
        emit("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
    }

    /// Restores the terminal; later draws do nothing.
    func leave() {
        lock.withLock { restored in
            guard !restored else { return }
            restored = true
            raw("\u{1B}[?25h\u{1B}[?1049l")
            if hasOriginal { tcsetattr(STDIN_FILENO, TCSANOW, &original) }
        }
    }

    func draw(_ lines: [String]) {
        emit("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }

    private func emit(_ text: String) {
        lock.withLock { restored in
            guard !restored else { return }
            raw(text)
        }
    }

    private func raw(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// Rows and columns (24×80 when the terminal does not say).
    func size() -> (rows: Int, cols: Int) {
        terminalSize(STDOUT_FILENO) ?? (24, 80)
    }

    func waitForInput(milliseconds: Int32) -> Input {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if keyboard { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
        let n = poll(&fds, nfds_t(fds.count), milliseconds)
        guard n > 0 else { return .none }
        if fds[0].revents != 0 {
            var sink = [UInt8](repeating: 0, count: 64)
            _ = read(wakeRead, &sink, sink.count)
            return .resized
        }
        if fds.count > 1, fds[1].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 64)
            let got = read(STDIN_FILENO, &buffer, buffer.count)
            if got == 0 { return .key("q") }  // the terminal hung up
            guard got > 0 else { return .none }
            // One key per read; escape sequences (arrows) are ignored.
            if buffer[0] == 0x1B { return .none }
            return .key(String(decoding: buffer[0..<1], as: UTF8.self))
        }
        return .none
    }
}
