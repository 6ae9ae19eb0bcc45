import Foundation
import ProbeControl
import Testing

/// Names that users choose travel as JSON object *keys* (error types in `error_types`, attribute
/// names in `attributes`), beside the report's own snake_case keys. probectl decodes the reports
/// with `.convertFromSnakeCase`, which must rewrite only the latter: a real client's
/// `cuda_out_of_memory` error and `device_id` attribute come back unchanged from probed, through
/// `--json` and through probectl's tables.
@Suite struct ReportKeyTests {
    static let calls = """
        0 1 1x8 oom
        0 2 2x8 ok
        0 1 1x8 oom
        0 4 4x8 bad_input
        """
    static let oom = "probe_slow_fixture.cuda_out_of_memory"

    @Test func errorTypeAndAttributeNamesWithUnderscores_roundTripThroughJSONAndTables() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let file = dir.file("calls")
        try Self.calls.write(toFile: file, atomically: true, encoding: .utf8)
        let client = try run(Products.path("probe-slow-fixture"), ["--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--calls", file])
        #expect(client.status == 0, "\(client.stdout)\(client.stderr)")

        // --json: probed's text, read here without any key strategy.
        let statsText = try daemon.probectl(["stats", "--json"])
        #expect(statsText.status == 0, "\(statsText.stderr)")
        let raw = try JSONSerialization.jsonObject(with: Data(statsText.stdout.utf8)) as? [String: Any]
        let rawRow = (raw?["operations"] as? [[String: Any]])?.first { $0["pid"] is NSNull }
        #expect(rawRow?["error_types"] as? [String: Int] == [Self.oom: 2, "probe_slow_fixture.InferenceError": 1], "\(statsText.stdout)")
        // Decoded as probectl decodes it: the report's keys converted, the user's names not.
        let merged = try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(statsText.stdout.utf8)).operations.first { $0.pid == nil }
        #expect(merged?.errorTypes == [Self.oom: 2, "probe_slow_fixture.InferenceError": 1])

        let errorsText = try daemon.probectl(["errors", "--json"])
        #expect(errorsText.status == 0, "\(errorsText.stderr)")
        let errors = try JSONDecoder.snakeCase.decode(ErrorsReport.self, from: Data(errorsText.stdout.utf8))
        #expect(errors.operations.first?.errorTypes == [Self.oom: 2, "probe_slow_fixture.InferenceError": 1])
        #expect(errors.operations.first?.errorRate1M == 0.75, "error_rate_1m: 3 of 4 calls failed in the last minute")
        let oomCalls = errors.errors.filter { $0.errorType == Self.oom }
        #expect(oomCalls.count == 2 && oomCalls.allSatisfy { $0.attributes == ["batch": "1", "shape": "1x8", "device_id": "cuda_0"] },
                "\(errors.errors)")

        // probectl's own tables decode the same JSON and print the names as the client sent them.
        let table = try daemon.probectl(["errors"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("\(Self.oom) 2, probe_slow_fixture.InferenceError 1"), "\(table.stdout)")
        #expect(table.stdout.contains("\(Self.oom): ") && table.stdout.contains("device_id=cuda_0"), "\(table.stdout)")
        #expect(!table.stdout.contains("cudaOutOfMemory") && !table.stdout.contains("deviceId"), "\(table.stdout)")
    }
}
