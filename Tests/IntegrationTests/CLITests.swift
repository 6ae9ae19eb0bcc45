import Foundation
import ProbeControl
import Testing

@Suite struct CLITests {
    @Test func unreachableDaemon_exitsOne_namingTheSocketAndHowToStartProbed() throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probectl"), ["--socket", dir.file("nobody.sock"), "stats"])
        #expect(o.status == 1)
        #expect(o.stderr.contains(dir.file("nobody.sock")) && o.stderr.contains("Start it with `probed`"))
        // Two lines, the hint on its own (not an escaped "\n" inside one line).
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.count == 2 && lines[1].hasPrefix("Start it with") && !o.stderr.contains("\\n"), "\(o.stderr)")
    }

    @Test func socketPathThatIsNoSocket_saysWhatItIs() throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probectl"), ["--socket", dir.path, "status"])
        #expect(o.status == 1)
        #expect(o.stderr.contains("\(dir.path) is a directory, not a socket") && !o.stderr.contains("Start it with"), "\(o.stderr)")
    }

    /// A usage error is one line naming the problem and one hint — the command's synopsis, or
    /// where the full usage is — as git does, so it does not scroll off (issue 21, item 7).
    @Test(arguments: [
        (["frobnicate"], "see probectl --help"), (["stat"], "see probectl --help"), ([], "see probectl --help"),
        (["--socket"], "see probectl --help"), (["--bogus", "stats"], "see probectl --help"),
        (["stats", "--bogus"], "usage: probectl [--socket PATH] stats"), (["stats", "--window", "2m"], "usage: probectl [--socket PATH] stats"),
        (["stats", "--window"], "usage: probectl [--socket PATH] stats"), (["stats", "--window="], "usage: probectl [--socket PATH] stats"),
        (["stats", "a", "b"], "usage: probectl [--socket PATH] stats"), (["status", "--window", "1m"], "usage: probectl [--socket PATH] status"),
        (["procs", "extra"], "usage: probectl [--socket PATH] procs"), (["gpu", "--follow"], "usage: probectl [--socket PATH] gpu"),
        (["slow", "a", "b"], "usage: probectl [--socket PATH] slow"), (["errors", "--bogus"], "usage: probectl [--socket PATH] errors"),
        (["threshold", "predict"], "usage: probectl [--socket PATH] threshold"),
        (["threshold", "predict", "soon"], "usage: probectl [--socket PATH] threshold"),
        (["top", "--interval", "5"], "usage: probectl [--socket PATH] top"), (["top", "--sort", "size"], "usage: probectl [--socket PATH] top"),
        (["top", "--iterations"], "usage: probectl [--socket PATH] top"), (["top", "now"], "usage: probectl [--socket PATH] top"),
    ] as [([String], String)])
    func usageErrors_exitTwo_withOneLineAndOneHint(_ arguments: [String], _ hint: String) throws {
        let o = try run(Products.path("probectl"), arguments)
        #expect(o.status == 2 && o.stdout.isEmpty)
        let lines = o.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines: \(o.stderr)")
        #expect(lines.first?.hasPrefix("probectl: ") == true && lines.dropFirst().first?.hasPrefix(hint) == true, "\(o.stderr)")
    }

    @Test func unknownCommand_namesTheCommandItProbablyWas() throws {
        let o = try run(Products.path("probectl"), ["stat"])
        #expect(o.status == 2 && o.stderr.hasPrefix("probectl: unknown command \"stat\" (did you mean stats?)"), "\(o.stderr)")
    }

    @Test func help_printsTheFullUsage() throws {
        let o = try run(Products.path("probectl"), ["--help"])
        #expect(o.status == 0 && o.stdout.contains("usage: probectl") && o.stdout.contains("threshold [OPERATION DURATION|off]"))
    }

    /// A process that exited still shows the operations it had (issue 21, item 9).
    @Test func status_ofAnExitedProcess_showsTheOperationsItHad() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let durations = dir.file("durations")
        try "1000\n2000\n".write(toFile: durations, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probe-fixture"), ["--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--durations", durations])
        #expect(o.status == 0, "\(o.stderr)")
        let deadline = Date().addingTimeInterval(20)
        var process = try daemon.status().processes.first
        while process?.state != "exited" && Date() < deadline {
            usleep(20_000)
            process = try daemon.status().processes.first
        }
        #expect(process?.state == "exited" && process?.operations == 1, "\(String(describing: process))")
    }

    /// `threshold OPERATION off` says what it removed, or that there was nothing to remove.
    @Test func thresholdOff_confirmsTheRemoval() throws {
        let daemon = try RunningDaemon()
        let set = try daemon.probectl(["threshold", "predict", "50ms"])
        #expect(set.status == 0 && set.stdout.hasPrefix("slow-call threshold for predict set to 50.0ms"), "\(set.stdout)")
        let off = try daemon.probectl(["threshold", "predict", "off"])
        #expect(off.status == 0 && off.stdout.hasPrefix("removed probed's slow-call threshold for predict (was 50.0ms)"), "\(off.stdout)")
        let again = try daemon.probectl(["threshold", "predict", "off"])
        #expect(again.status == 0 && again.stdout.hasPrefix("predict had no threshold in probed: nothing to remove"), "\(again.stdout)")
        let list = try daemon.probectl(["threshold"])
        #expect(list.stdout.hasPrefix("no thresholds set in probed"), "\(list.stdout)")
    }

    /// `stats OPERATION`, like `slow OPERATION` and `errors OPERATION`, shows that operation only.
    @Test func statsWithAnOperation_showsThatOperationOnly() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let durations = dir.file("durations")
        try (1...20).map { String($0 * 1_000) }.joined(separator: "\n").write(toFile: durations, atomically: true, encoding: .utf8)
        for operation in ["predict", "postprocess"] {
            let o = try run(Products.path("probe-fixture"), ["--socket", daemon.socket, "--service", "ranker", "--operation", operation, "--durations", durations])
            #expect(o.status == 0, "\(o.stderr)")
        }
        let table = try daemon.probectl(["stats", "predict"])
        #expect(table.status == 0 && table.stdout.contains("predict") && !table.stdout.contains("postprocess"), "\(table.stdout)")
        #expect(!table.stdout.contains("MEAN/ITEM"), "one item per call: no per-item column \(table.stdout)")
        let json = try daemon.probectl(["stats", "predict", "--json"])
        let report = try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(json.stdout.utf8))
        #expect(json.stdout.contains("\"operation\":\"predict\",\"operations\":"), "\(json.stdout)")
        #expect(!report.operations.isEmpty && report.operations.allSatisfy { $0.operation == "predict" && $0.lifetimeCalls == 20 }, "\(json.stdout)")
        let none = try daemon.probectl(["stats", "embed"])
        #expect(none.status == 0 && none.stdout.hasPrefix("no operation named \"embed\""), "\(none.stdout)")
    }

    @Test func badWindow_exitsTwo_namingTheWindowsThereAre() throws {
        let o = try run(Products.path("probectl"), ["stats", "--window", "1h"])
        #expect(o.status == 2 && o.stderr.contains("unknown window \"1h\"") && o.stderr.contains("10s, 1m, 5m, 15m or all"))
    }

    /// `probed --check-config` names every bad line of the file in one run, in file order, and
    /// exits 2 (issue 21, item 6).
    @Test func probedCheckConfig_reportsEveryBadLineInOrder_exitsTwo() throws {
        let dir = TemporaryDirectory()
        let config = dir.file("probed.conf")
        try "# four mistakes\nwarmup = many\nlog-level = debug\ncolour = blue\nsample-interval = 5h\nmetrics-listen\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probed"), ["--config", config, "--check-config"])
        #expect(o.status == 2 && o.stdout.isEmpty, "\(o.stdout)")
        let lines = o.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(o.stderr)")
        for (n, (line, reason)) in [(2, "warmup: \"many\""), (4, "unknown setting \"colour\""), (5, "sample-interval: \"5h\""),
                                    (6, "expected `key = value`")].enumerated() where n < lines.count {
            #expect(lines[n].hasPrefix("probed: \(config):\(line): \(reason)"), "\(o.stderr)")
        }
        #expect(lines.last == "probed: 4 problems; fix them, then check again with probed --check-config", "\(o.stderr)")
    }

    @Test func probedBadFlag_exitsTwo_withOneLineAndAHint() throws {
        let o = try run(Products.path("probed"), ["--warmup", "many"])
        #expect(o.status == 2 && o.stderr.contains("--warmup") && o.stderr.contains("usage: probed"))
        #expect(o.stderr.split(separator: "\n").count == 2, "one line and a hint: \(o.stderr)")
        let help = try run(Products.path("probed"), ["--help"])
        #expect(help.status == 0 && help.stdout.contains("/run/probed/probed.sock"), "the socket resolution, as the README gives it")
        let checkLine = help.stdout.split(separator: "\n").first { $0.contains("--check-config [") } ?? ""
        #expect(!checkLine.contains("nvml") && help.stdout.contains("[--nvml-library PATH]"), "\(help.stdout)")
    }
}
