#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbePosix

/// What saving and restoring the state costs with the bench's many series: the SIGTERM save's
/// log line (store held, encoding, writing, bytes), then a second probed on the same state
/// directory and its restore line.
struct StateFigures {
    let daemon: BenchDaemon

    struct Result {
        var series = 0
        var bytes = 0
        var heldMs = 0.0
        var encodeMs = 0.0
        var writeMs = 0.0
        var restoreMs = 0.0
    }

    /// The number before `suffix` that follows `key` in `line`.
    static func number(_ line: Substring, after key: String, before suffix: String) -> Double {
        guard let r = line.range(of: key) else { return 0 }
        let rest = line[r.upperBound...]
        guard let end = rest.range(of: suffix) else { return 0 }
        return Double(rest[..<end.lowerBound].trimmingCharacters(in: .whitespaces)) ?? 0
    }

    func run() -> Result {
        var result = Result()
        daemon.stop()
        let saved = readFile(daemon.log).split(separator: "\n").first { $0.contains("state saved to") } ?? ""
        result.series = Int(Self.number(saved, after: "(SIGTERM): ", before: " series"))
        result.bytes = Int(Self.number(saved, after: "processes, ", before: " bytes"))
        result.heldMs = Self.number(saved, after: "store held ", before: " ms")
        result.encodeMs = Self.number(saved, after: "encoding ", before: " ms")
        result.writeMs = Self.number(saved, after: "writing ", before: " ms")
        let socket = daemon.socket + ".2", log = daemon.log + ".2"
        let second = spawn([sibling("probed"), "--socket", socket, "--log-level", "info", "--state-dir", daemon.stateDirectory], stderrTo: log)
        for _ in 0..<3000 where !readFile(log).contains("listening on") { sleepNanoseconds(10_000_000) }
        let restored = readFile(log).split(separator: "\n").first { $0.contains("restored the state") } ?? ""
        result.restoreMs = Self.number(restored, after: "read in ", before: " ms")
        kill(second, SIGKILL)
        _ = waitFor(second)
        for path in [daemon.log, log, daemon.stateDirectory + "/state"] { unlink(path) }
        rmdir(daemon.stateDirectory)
        return result
    }
}

func ms(_ v: Double) -> String { String(format: "%.1f ms", v) }
