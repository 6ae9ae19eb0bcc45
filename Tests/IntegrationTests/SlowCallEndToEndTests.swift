import Foundation
import ProbeControl
import ProbePosix
import Testing

/// A probectl left running (`--follow`), read line by line, always killed at the end.
final class StreamingProcess: @unchecked Sendable {
    let process = Process()
    let stdout = Locked(Data())
    let stderr = Locked(Data())

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        out.fileHandleForReading.readabilityHandler = { [stdout] h in let d = h.availableData; stdout.update { $0.append(d) } }
        err.fileHandleForReading.readabilityHandler = { [stderr] h in let d = h.availableData; stderr.update { $0.append(d) } }
        try process.run()
    }

    /// Waits (at most `timeout` seconds, a bound, not an assertion) until `text` has `lines` complete lines.
    func waitForLines(_ lines: Int, in text: Locked<Data>, timeout: TimeInterval = 30) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let all = String(decoding: text.get(), as: UTF8.self)
            let complete = all.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            if (all.hasSuffix("\n") ? complete.count : complete.count - 1) >= lines || Date() > deadline || !process.isRunning {
                return Array(complete.prefix(all.hasSuffix("\n") ? complete.count : max(0, complete.count - 1)))
            }
            usleep(10_000)
        }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite(.serialized) struct SlowCallEndToEndTests {
    /// The calls the "Done when" names: over and under 50 ms, batch and shape attributes, some failing.
    static let calls = """
        70 32 32x3x224x224 ok
        0 8 8x3x224x224 ok
        1 16 16x3x224x224 ok
        90 64 64x3x224x224 ok
        0 4 4x3x224x224 bad_input
        0 2 2x3x224x224 ok
        55 1 1x3x224x224 timeout
        """

    func writeCalls(_ dir: TemporaryDirectory) throws -> String {
        let file = dir.file("calls")
        try Self.calls.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func clientThreshold_exactlyTheSlowCallsAreListed_withAttributes_andFailuresWithTypes() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probe-slow-fixture"), [
            "--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--calls", try writeCalls(dir),
            "--slow-threshold-ms", "50",
        ])
        #expect(o.status == 0, "\(o.stdout) \(o.stderr)")

        let slowOut = try daemon.probectl(["slow", "--json"])
        #expect(slowOut.status == 0, "\(slowOut.stderr)")
        let slow = try JSONDecoder.snakeCase.decode(SlowCallsReport.self, from: Data(slowOut.stdout.utf8))
        // Newest first: the failed 55 ms call, then 90 ms, then 70 ms; nothing under 50 ms.
        #expect(slow.slowCalls.map(\.attributes) == [
            ["batch": "1", "shape": "1x3x224x224"], ["batch": "64", "shape": "64x3x224x224"], ["batch": "32", "shape": "32x3x224x224"],
        ])
        #expect(slow.slowCalls.allSatisfy { $0.durationNs > 50_000_000 && $0.service == "ranker" && $0.operation == "predict" })
        #expect(slow.slowCalls.map(\.items) == [1, 64, 32])
        #expect(slow.slowest.map(\.items) == [64, 32, 1])
        #expect(slow.slowCount == 3)
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        #expect(slow.slowCalls.allSatisfy { $0.startWallNs < now && $0.startWallNs > now - 600_000_000_000 })

        let errorsOut = try daemon.probectl(["errors", "predict", "--json"])
        #expect(errorsOut.status == 0, "\(errorsOut.stderr)")
        let errors = try JSONDecoder.snakeCase.decode(ErrorsReport.self, from: Data(errorsOut.stdout.utf8))
        #expect(errors.errors.map(\.errorType) == ["probe_slow_fixture.InferenceError", "probe_slow_fixture.InferenceError"])
        #expect(errors.errors.map(\.message) == ["timeout(milliseconds: 55)", "badInput(\"shape 4x3x224x224 does not match the model\")"])
        #expect(errors.errors.map { $0.attributes["batch"] } == ["1", "4"])
        #expect(errors.operations.first?.errorTypes == ["probe_slow_fixture.InferenceError": 2])

        let row = try daemon.stats().operations.first { $0.pid == nil && $0.operation == "predict" }
        #expect(row?.items == 127 && row?.slowCalls == 3 && row?.errors == 2)
        #expect(daemon.logText.contains("slow call: service ranker"))
        #expect(daemon.logText.contains("failed call: service ranker"))
    }

    @Test func daemonThreshold_setWithProbectl_reachesARealClient() throws {
        let daemon = try RunningDaemon()
        let set = try daemon.probectl(["threshold", "predict", "50ms"])
        #expect(set.status == 0, "\(set.stderr)")
        let listed = try daemon.probectl(["threshold", "--json"])
        #expect(listed.stdout.contains("\"operation\":\"predict\",\"threshold_ns\":50000000"))
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probe-slow-fixture"), [
            "--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--calls", try writeCalls(dir),
            "--wait-daemon-threshold",
        ])
        #expect(o.status == 0, "\(o.stdout) \(o.stderr)")
        #expect(o.stdout.contains("threshold 50000000"))
        let slow = try JSONDecoder.snakeCase.decode(SlowCallsReport.self, from: Data(try daemon.probectl(["slow", "--json"]).stdout.utf8))
        #expect(slow.slowCalls.map(\.items) == [1, 64, 32])

        #expect(try daemon.probectl(["threshold", "predict", "off"]).status == 0)
        #expect(try daemon.probectl(["threshold", "--json"]).stdout.contains("\"thresholds\":[]"))
    }

    @Test func badThresholdArguments_areUsageErrors() throws {
        let daemon = try RunningDaemon()
        let bad = try daemon.probectl(["threshold", "predict", "fast"])
        #expect(bad.status == 2 && bad.stderr.contains("not a duration"))
        #expect(try daemon.probectl(["threshold", "predict"]).status == 2)
        #expect(try daemon.probectl(["slow", "a", "b"]).status == 2)
        #expect(try daemon.probectl(["threshold", "predict", "5ms", "--follow"]).status == 2)
    }

    @Test func follow_deliversASlowCallRecordedAfterItStarted() throws {
        let daemon = try RunningDaemon()
        let follower = try StreamingProcess(Products.path("probectl"), ["--socket", daemon.socket, "slow", "--follow", "--json"])
        defer { follower.stop() }
        // probectl says on stderr once probed has subscribed it; only then is anything recorded.
        let ready = follower.waitForLines(1, in: follower.stderr)
        #expect(ready.first?.contains("following slow calls") == true, "\(ready)")
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probe-slow-fixture"), [
            "--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--calls", try writeCalls(dir),
            "--slow-threshold-ms", "50",
        ])
        #expect(o.status == 0)
        let lines = follower.waitForLines(3, in: follower.stdout)
        #expect(lines.count == 3, "\(lines)")
        let rows = lines.compactMap { try? JSONDecoder.snakeCase.decode(CallEntryRow.self, from: Data($0.utf8)) }
        #expect(rows.map(\.items) == [32, 64, 1])  // in arrival order
        #expect(rows.first?.attributes == ["batch": "32", "shape": "32x3x224x224"])
    }
}
