import Foundation
import ProbeControl
import ProbePosix
import Testing

/// probed restarted with a state directory: SIGTERM, SIGKILL, a restart under load, and state
/// files that cannot be used. The real probed, clients and probectl, as an operator runs them.
@Suite(.serialized) struct StateRestartTests {
    /// A socket and a state directory that outlive the daemons started on them.
    final class Place: @unchecked Sendable {
        let directory = TemporaryDirectory()
        var socket: String { directory.file("probed.sock") }
        var state: String { directory.file("state") }
        var stateFile: String { state + "/state" }

        /// A probed on this place, once it has read (or refused) its state: it listens before.
        func daemon(_ arguments: [String] = []) throws -> RunningDaemon {
            let d = try RunningDaemon(["--state-dir", state, "--warmup", "2"] + arguments, socket: socket)
            let deadline = Date().addingTimeInterval(20)
            while !d.logText.contains("listening on") && Date() < deadline { usleep(10_000) }
            return d
        }
    }

    /// What an operator compares across a restart: every row of `stats --json` less what moves
    /// with the moment it is asked (rates, spans, the last minute's error rate) and GPU warnings.
    static func comparable(_ rows: [OperationRow], without service: String? = nil) -> [OperationRow] {
        rows.filter { $0.service != service }.map { row in
            var r = row
            r.ratePerS = 0
            r.spanNs = 0
            r.itemsPerS = nil
            r.errorRate1M = nil
            r.warnings = nil
            return r
        }
    }

    /// `predict`'s slow calls and failures (less the last minute's error rate, which moves with the
    /// moment asked), and the thresholds, as text.
    static func calls(_ daemon: RunningDaemon) throws -> [String] {
        try [["slow", "predict", "--json"], ["errors", "predict", "--json"], ["threshold"]].map {
            try daemon.probectl($0).stdout.replacingOccurrences(of: #""error_rate_1m":[0-9.e-]+"#, with: "", options: .regularExpression)
        }
    }

    /// Workers gone, slow and failed calls with attributes, a threshold set by probectl.
    static func workload(_ daemon: RunningDaemon, _ place: Place) throws {
        #expect(try daemon.probectl(["threshold", "predict", "30ms"]).status == 0)
        for i in 0..<3 {
            try ProcessLifecycleTests.worker(daemon, place.directory, durations: (0..<50).map { UInt64(1_000 + 37 * $0 + i) }, failEvery: 6)
        }
        let file = place.directory.file("calls")
        try "40 16 16x3 ok\n2 4 4x3 bad_input\n35 8 8x3 timeout\n1 1 1x3 oom\n".write(toFile: file, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probe-slow-fixture"), ["--socket", daemon.socket, "--service", "ranker", "--operation", "predict",
                                                              "--calls", file, "--wait-daemon-threshold"])
        #expect(o.status == 0, "\(o.stdout) \(o.stderr)")
    }

    @Test func sigtermThenStart_statsWindowsCallLogsThresholdsAndMemoryHistoryContinue() throws {
        let place = Place()
        let first = try place.daemon(["--sample-interval", "200ms"])
        try Self.workload(first, place)
        // A process connected across the restart: its memory history and series go on.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: Products.path("probe-leak-fixture"))
        holder.arguments = ["--socket", place.socket, "--service", "holder", "--mode", "hold", "--seconds", "8", "--mib", "8"]
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(20)
        var samples = 0
        while samples < 5 && Date() < deadline {
            usleep(200_000)
            let procs = try JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(try first.probectl(["procs", "--json"]).stdout.utf8))
            samples = procs.processes.first { $0.pid == Int(holder.processIdentifier) }?.samples ?? 0
        }
        let all = try first.stats(), recent = try first.stats(window: "15m"), logs = try Self.calls(first), status = try first.status()
        #expect(first.stop() == 0)
        #expect(first.logText.contains("state saved to \(place.stateFile) (SIGTERM)"), "\(first.logText)")

        let second = try place.daemon(["--sample-interval", "200ms"])
        #expect(second.logText.contains("restored the state from \(place.stateFile)"), "\(second.logText)")
        #expect(Self.comparable(try second.stats().operations, without: "holder") == Self.comparable(all.operations, without: "holder"))
        #expect(Self.comparable(try second.stats(window: "15m").operations, without: "holder") == Self.comparable(recent.operations, without: "holder"))
        #expect(try Self.calls(second) == logs)
        let after = try second.status()
        // The holder stays connected and may still record (and, on a loaded machine, drop and
        // report) between the reading and the stop: nothing goes back, more may come.
        #expect(after.eventsReceived >= status.eventsReceived && after.droppedEvents >= status.droppedEvents,
                "events \(status.eventsReceived) → \(after.eventsReceived), dropped \(status.droppedEvents) → \(after.droppedEvents)")
        // The holder comes back on its own (it reconnects within 2 s) and carries on.
        var back: ProcessRow? = nil
        while back?.state != "connected" && Date() < deadline.addingTimeInterval(10) {
            usleep(200_000)
            back = try second.status().processes.first { $0.pid == Int(holder.processIdentifier) }
        }
        #expect(back?.state == "connected")
        usleep(1_000_000)
        let procs = try JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(try second.probectl(["procs", "--json"]).stdout.utf8))
        let row = procs.processes.first { $0.pid == Int(holder.processIdentifier) }
        #expect((row?.samples ?? 0) > samples, "the memory history started again: \(row?.samples ?? 0) samples, \(samples) before the restart")
        let series = try second.stats().operations.filter { $0.service == "holder" && $0.pid == Int(holder.processIdentifier) }
        #expect(series.count == 2, "the holder's operations continue as one series each: \(series.map(\.operation))")
    }

    @Test func sigkillThenStart_readsWhatTheLastPeriodicSaveHeld() throws {
        let place = Place()
        let first = try place.daemon(["--state-interval", "1s"])
        try Self.workload(first, place)
        let all = try first.stats(), recent = try first.stats(window: "15m"), logs = try Self.calls(first)
        // Wait for a save that began after everything above had arrived.
        let taken = Date()
        var saved = false
        while !saved && Date().timeIntervalSince(taken) < 20 {
            usleep(100_000)
            if let ago = try first.status().stateSavedAgoNs { saved = Double(ago) / 1e9 < Date().timeIntervalSince(taken) - 0.05 }
        }
        #expect(saved)
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        let second = try place.daemon()
        #expect(second.logText.contains("restored the state from"), "\(second.logText)")
        #expect(Self.comparable(try second.stats().operations) == Self.comparable(all.operations))
        #expect(Self.comparable(try second.stats(window: "15m").operations) == Self.comparable(recent.operations))
        #expect(try Self.calls(second) == logs)
    }

    @Test func restartUnderLoad_losesNothingSaved_andTheClientContinuesItsSeries() throws {
        let place = Place()
        let first = try place.daemon()
        let (p, out) = try ResilienceTests.startLoad(socket: place.socket, seconds: 4, rate: 20_000, buffer: 65_536)
        usleep(1_500_000)
        #expect(first.stop() == 0)
        let second = try place.daemon()
        let r = try ResilienceTests.finish(p, out)
        #expect(r.flushed && r.delivered + r.dropped == r.recorded)
        let rows = try second.stats().operations.filter { $0.pid == Int(p.processIdentifier) }
        let status = try second.status()
        print("restart under load: recorded \(r.recorded) delivered \(r.delivered) dropped \(r.dropped) over \(r.connections) connections; the series holds \(rows.first?.calls ?? 0) calls")
        #expect(r.connections == 2)
        #expect(rows.count == 1 && rows.first?.calls == r.delivered, "one series across the restart, every delivered call in it")
        #expect(ResilienceTests.process(status, pid: p.processIdentifier)?.eventsReceived == r.delivered)
    }

    // MARK: State files that cannot be used

    /// CRC-32C, bit by bit (the daemon's is table-driven): to rewrite a header as a newer probed would.
    static func crc32c(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func badStateFiles_eachGiveOneLine_anEmptyStart_andAreMovedAside() throws {
        let source = Place()
        let writer = try source.daemon()
        try ProcessLifecycleTests.worker(writer, source.directory, durations: [1_000, 2_000, 3_000])
        #expect(writer.stop() == 0)
        let valid = try #require(FileManager.default.contents(atPath: source.stateFile).map { [UInt8]($0) })
        var future = valid
        future[8] = 2  // format version 2, header checksum made good again
        let headerCRC = Self.crc32c(future[0..<28])
        for i in 0..<4 { future[28 + i] = UInt8(truncatingIfNeeded: headerCRC >> (8 * UInt32(i))) }
        var damaged = valid
        damaged[valid.count - 5] ^= 0x40
        let cases: [(name: String, bytes: [UInt8], reason: String)] = [
            ("zero-length", [], "empty (0 bytes)"),
            ("truncated", Array(valid[..<(valid.count / 2)]), "truncated: \(valid.count / 2) bytes of \(valid.count)"),
            ("corrupt", damaged, "checksum mismatch"),
            ("future-version", future, "format version 2, newer than this probed's 1 (written by a newer probed)"),
            ("foreign", Array("{\"not\": \"a state\"}\n".utf8), "not a probed state file"),
        ]
        for c in cases {
            let place = Place()
            try FileManager.default.createDirectory(atPath: place.state, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: place.stateFile, contents: Data(c.bytes))
            let daemon = try place.daemon()
            let lines = daemon.logText.split(separator: "\n").filter { $0.contains("state file") }
            #expect(lines.count == 1, "\(c.name): \(daemon.logText)")
            let line = String(lines.first ?? "")
            #expect(line.hasPrefix("probed warning: state file \(place.stateFile) not used: \(c.reason)"), "\(c.name): \(line)")
            #expect(line.contains("; starting empty; moved it to \(place.stateFile).bad-"), "\(c.name): \(line)")
            #expect(try daemon.stats().operations.isEmpty, "\(c.name)")
            let names = try FileManager.default.contentsOfDirectory(atPath: place.state)
            #expect(names.count == 1 && names[0].hasPrefix("state.bad-"), "\(c.name): \(names)")
            let aside = try #require(FileManager.default.contents(atPath: place.state + "/" + (names.first ?? "")))
            #expect([UInt8](aside) == c.bytes, "\(c.name): the bad file is kept as it was")
            // It runs as usual, and writes a good state on the way out.
            #expect(daemon.stop() == 0)
            #expect(FileManager.default.fileExists(atPath: place.stateFile), "\(c.name)")
        }
    }
}
