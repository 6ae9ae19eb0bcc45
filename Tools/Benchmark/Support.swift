#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbePosix

func ns(_ v: Double) -> String {
    if v >= 1e6 { return format3(v / 1e6) + " ms" }
    if v >= 1e3 { return format3(v / 1e3) + " µs" }
    return format3(v) + " ns"
}

func ratio(_ a: Double, _ b: Double) -> String { format3(a / b) + "× floor" }

/// The middle value (the upper one of an even count).
func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

func format3(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    let whole = Int(r)
    let frac = Int(((r - Double(whole)) * 100).rounded())
    return "\(whole)." + (frac < 10 ? "0" : "") + "\(abs(frac))"
}

func cpuModel() -> String {
    guard let f = fopen("/proc/cpuinfo", "r") else { return "unknown CPU" }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, 512, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("model name") {
            return String(s.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters()
        }
    }
    return "unknown CPU"
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

/// The directory holding this executable (probed and probectl are built beside it).
func sibling(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) + "/" + name
}

func spawn(_ argv: [String], stdoutTo file: String? = nil, stderrTo errors: String? = nil) -> pid_t {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let file { posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
    if let errors { posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
    var cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else {
        writeStandardError("probe-bench: cannot start \(argv[0])\n")
        exit(1)
    }
    return pid
}

func waitFor(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xFF
}

func readFile(_ path: String) -> String {
    guard let f = fopen(path, "r") else { return "" }
    defer { fclose(f) }
    var out = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
func cpuSeconds(_ pid: pid_t) -> Double {
    let stat = readFile("/proc/\(pid)/stat")
    guard let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 0, utime is field 11, stime field 12.
    guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func residentBytes(_ pid: pid_t) -> Int {
    let statm = readFile("/proc/\(pid)/statm").split(separator: " ")
    guard statm.count > 1, let pages = Int(statm[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The integer after `"key":` in a JSON text (enough for probed's flat status fields).
func jsonInteger(_ text: String, _ key: String) -> UInt64 {
    guard let r = text.range(of: "\"\(key)\":") else { return 0 }
    return UInt64(text[r.upperBound...].prefix { $0.isNumber }) ?? 0
}

/// A release probed on a temporary socket, with a state directory it writes on SIGTERM (its
/// log, at info, says how long that took).
final class BenchDaemon {
    let socket = "/tmp/probe-bench-\(getpid()).sock"
    let stateDirectory = "/tmp/probe-bench-\(getpid())-state"
    let log = "/tmp/probe-bench-\(getpid())-probed.log"
    let pid: pid_t

    init() {
        pid = spawn([sibling("probed"), "--socket", socket, "--warmup", "0", "--log-level", "info",
                     "--state-dir", stateDirectory, "--state-interval", "1h"], stderrTo: log)
        var tries = 0
        while !UnixSocket.isLive(path: socket) {
            sleepNanoseconds(10_000_000)
            tries += 1
            if tries > 500 {
                writeStandardError("probe-bench: probed did not start\n")
                exit(1)
            }
        }
    }

    func probectl(_ args: [String]) -> String {
        let out = "/tmp/probe-bench-\(getpid())-ctl.out"
        _ = waitFor(spawn([sibling("probectl"), "--socket", socket] + args, stdoutTo: out))
        defer { unlink(out) }
        return readFile(out)
    }

    private var stopped = false

    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGTERM)
        _ = waitFor(pid)
    }
}
