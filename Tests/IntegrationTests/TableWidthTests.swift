#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// probectl's tables in terminals of 40, 60 and 250 columns (a pseudo-terminal from util-linux
/// `script`) and through a pipe: they fit the terminal by hiding columns and shortening names,
/// never wrap, and show everything when piped.
@Suite struct TableWidthTests {
    /// A probed with long names, batches, slow calls, failures and two processes of one operation.
    final class Traffic: @unchecked Sendable {
        let daemon: RunningDaemon
        let directory = TemporaryDirectory()

        init() throws {
            daemon = try RunningDaemon()
            let calls = directory.file("calls")
            // MILLISECONDS BATCH SHAPE OUTCOME; the fixture's threshold is 50 ms: two slow calls each.
            try (["60 16 16x3 timeout", "80 32 32x3x224x224 ok", "2 4 4x3 bad_input"] + Array(repeating: "1 8 8x3 ok", count: 12))
                .joined(separator: "\n").write(toFile: calls, atomically: true, encoding: .utf8)
            let arguments = ["--socket", daemon.socket, "--service", "embedding-service", "--operation", "encode_batch_tokens",
                             "--calls", calls, "--slow-threshold-ms", "50"]
            // probed's own threshold, so `threshold` has a table too (the client's 50 ms is smaller and wins).
            let threshold = try daemon.probectl(["threshold", "encode_batch_tokens", "70ms"])
            guard threshold.status == 0 else { throw Failure("probectl threshold failed: \(threshold.stderr)") }
            let group = DispatchGroup()
            let outcomes = Locked<[Outcome]>([])
            for _ in 0..<2 {
                group.enter()
                DispatchQueue.global().async {
                    if let o = try? run(Products.path("probe-slow-fixture"), arguments) { outcomes.update { $0.append(o) } }
                    group.leave()
                }
            }
            group.wait()
            guard outcomes.get().count == 2, outcomes.get().allSatisfy({ $0.status == 0 }) else {
                throw Failure("the slow fixture failed: \(outcomes.get())")
            }
        }
    }

    /// probectl's output in a pseudo-terminal `columns` wide, carriage returns removed.
    static func inTerminal(_ columns: Int, _ arguments: [String]) throws -> Outcome {
        let command = (["stty", "cols", String(columns), "rows", "60;", "exec", Products.path("probectl")] + arguments.map { "'\($0)'" })
            .joined(separator: " ")
        var o = try run("/usr/bin/script", ["-qec", command, "/dev/null"])
        o.stdout = o.stdout.replacingOccurrences(of: "\r", with: "")
        return o
    }

    /// An ISO 8601 date, as the slow-call tables start their times.
    static var date: Regex<AnyRegexOutput> { try! Regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T") }

    static let commands: [[String]] = [["status"], ["stats"], ["stats", "--window", "all"], ["procs"], ["slow"], ["errors"], ["threshold"]]

    @Test(arguments: [40, 60])
    func narrowTerminal_everyLineFits_andTheEssentialColumnsStay(_ columns: Int) throws {
        let traffic = try Traffic()
        let daemon = traffic.daemon
        for command in Self.commands {
            let o = try Self.inTerminal(columns, ["--socket", daemon.socket] + command)
            #expect(o.status == 0, "\(command): \(o.stdout)")
            let lines = o.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let widest = lines.map(\.count).max() ?? 0
            print("probectl \(command.joined(separator: " ")) in \(columns) columns: widest line \(widest)")
            #expect(widest <= columns, "\(command) in \(columns) columns:\n\(o.stdout)")
        }
        let stats = try Self.inTerminal(columns, ["--socket", daemon.socket, "stats"]).stdout
        #expect(stats.contains("CALLS") && stats.contains("P99") && stats.contains("more columns"), "\(stats)")
        // The service gives way before the operation.
        #expect(stats.contains("encode_batch_t") && !stats.contains("embedding-service  encode") && !stats.contains("embedding-service/"), "\(stats)")
        let slow = try Self.inTerminal(columns, ["--socket", daemon.socket, "slow"]).stdout
        #expect(slow.contains("DURATION") && slow.contains("80.") && !slow.contains(Self.date), "the date goes first: \(slow)")
    }

    @Test func pipedAndWide_showEveryColumnInFull() throws {
        let traffic = try Traffic()
        let daemon = traffic.daemon
        for command in Self.commands {
            let piped = try daemon.probectl(command)
            let wide = try Self.inTerminal(250, ["--socket", daemon.socket] + command)
            #expect(piped.status == 0 && wide.status == 0)
            #expect(!piped.stdout.contains("more columns") && !piped.stdout.contains("hidden:"), "\(command): \(piped.stdout)")
            // The same tables: headers and rows (figures may move between the two runs, columns may
            // not; notes in prose wrap at 250 columns).
            let headers = { (text: String) in text.split(separator: "\n").filter { $0.contains("  ") && $0 == $0.uppercased() } }
            let rows = { (text: String) in text.split(separator: "\n").filter { $0.contains("  ") }.count }
            #expect(!headers(piped.stdout).isEmpty && headers(piped.stdout) == headers(wide.stdout), "\(command):\n\(piped.stdout)\n\(wide.stdout)")
            #expect(rows(piped.stdout) == rows(wide.stdout), "\(command):\n\(piped.stdout)\n\(wide.stdout)")
        }
        let stats = try daemon.probectl(["stats"]).stdout
        for column in ["SERVICE", "OPERATION", "PID", "MIN", "MEAN", "P90", "P99 ALL", "P99.9", "MAX", "ITEMS/S", "MEAN/ITEM", "SLOW"] {
            #expect(stats.contains(column), "\(column): \(stats)")
        }
        #expect(stats.contains("embedding-service  encode_batch_tokens"), "\(stats)")
        let top = try daemon.probectl(["top", "--iterations", "1"]).stdout
        #expect(top.contains("embedding-service/encode_batch_tokens") && top.contains("WARM-UP") && top.contains("PROCS"), "\(top)")
        let slow = try daemon.probectl(["slow"]).stdout
        #expect(slow.contains(Self.date) && slow.contains("Z  embedding-service") && slow.contains("shape=32x3x224x224"), "\(slow)")
    }

    /// Item 4 of issue 21: per-item latency and slow calls in the table, for operations that have them.
    @Test func stats_showsPerItemLatencyAndSlowCalls() throws {
        let traffic = try Traffic()
        let daemon = traffic.daemon
        let report = try daemon.stats(window: "1m")
        let row = try #require(report.operations.first { $0.pid == nil && $0.operation == "encode_batch_tokens" })
        let text = try daemon.probectl(["stats"]).stdout
        let lines = text.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        let line = try #require(lines.first { $0.contains("encode_batch_tokens") })
        // The cell under each header, by its right edge (figures are right-aligned).
        func cell(_ column: String) -> String? {
            guard let range = header.range(of: column) else { return nil }
            let end = header.distance(from: header.startIndex, to: range.upperBound)
            let chars = Array(line)
            guard end <= chars.count else { return nil }
            var start = end
            while start > 0 && chars[start - 1] != " " { start -= 1 }
            return String(chars[start..<end])
        }
        #expect(cell("SLOW") == String(row.slowCalls ?? 0) && row.slowCalls == 4, "\(text)")
        #expect(row.meanPerItemNs != nil && cell("MEAN/ITEM") != nil && cell("MEAN/ITEM") != "-", "\(text)")
    }

    /// Item 5: `top --iterations 1` leaves its last frame on the main screen, without the key help.
    @Test func top_withIterations_leavesItsLastFrameOnScreen() throws {
        let traffic = try Traffic()
        let daemon = traffic.daemon
        let o = try Self.inTerminal(40, ["--socket", daemon.socket, "top", "--iterations", "1"])
        #expect(o.status == 0, "\(o.stdout)")
        let after = o.stdout.components(separatedBy: "\u{1B}[?1049l").last ?? ""
        #expect(o.stdout.contains("\u{1B}[?1049l") && after.contains("probectl top") && after.contains("CALLS/S"), "\(o.stdout)")
        #expect(!after.contains("keys:") && !after.contains("\u{1B}"), "\(after)")
        #expect(after.split(separator: "\n").allSatisfy { $0.count <= 40 }, "\(after)")
        // In 40 columns the service gives way first: "…/encode_b…", never "embedding-service/e…".
        // How much of the operation stays depends on how wide the figures are in this frame (a
        // sanitized run may draw it after the traffic has left the 10 s window: "0.0" and "-").
        #expect(after.contains("…/encode_b") && !after.contains("embedding-service/"), "\(after)")
    }
}
