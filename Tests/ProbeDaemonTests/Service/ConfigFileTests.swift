import Foundation
@testable import ProbeDaemon
import Testing

@Suite struct ConfigFileTests {
    @Test func entries_skipCommentsAndBlanks_acceptQuotesAndDashes() throws {
        let e = try ConfigFile.entries("# probed\n\n  warmup = 5  \n--log-level=debug\nsocket = \"/run/x.sock\"\r\n", path: "f")
        #expect(e == [.init(key: "warmup", value: "5", line: 3), .init(key: "log-level", value: "debug", line: 4),
                      .init(key: "socket", value: "/run/x.sock", line: 5)])
    }

    @Test(arguments: [
        ("warmup 5", "f:1: expected `key = value`"),
        ("colour = blue", "f:1: unknown setting \"colour\""),
        ("warmup = 1\nwarmup = 2", "f:2: warmup is already set on line 1"),
        ("\nwarmup =", "f:2: warmup has no value"),
    ])
    func entries_refuseBadLines_withFileLineAndReason(_ text: String, _ message: String) {
        #expect(throws: ConfigFile.Invalid.self) { try ConfigFile.entries(text, path: "f") }
        do {
            _ = try ConfigFile.entries(text, path: "f")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error)")
        }
    }

    @Test(arguments: [
        ("warmup = -1", "f:1: warmup: \"-1\" is not a whole number"),
        ("log-level = loud", "f:1: log-level: \"loud\" is not one of"),
        ("# x\nleak-window = 1s", "f:2: leak-window: \"1s\" is not a duration from 20s to 15m"),
        ("allow-group = no-such-group-here", "f:1: allow-group: there is no group \"no-such-group-here\""),
        ("metrics-listen = nowhere", "f:1: metrics-listen:"),
    ])
    func apply_checksEachValueLikeItsFlag(_ text: String, _ message: String) throws {
        let entries = try ConfigFile.entries(text, path: "f")
        do {
            _ = try ConfigFile.apply(entries, path: "f", to: DaemonOptions())
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error)")
        }
    }

    /// Every bad line in one go, in file order, whether its form or its value is wrong.
    @Test func load_reportsEveryBadLine_inFileOrder() throws {
        let path = NSTemporaryDirectory() + "probed-config-\(UUID().uuidString.prefix(8)).conf"
        try "warmup = many\nlog-level = debug\ncolour = blue\nsample-interval = 5h\nwarmup 5\nlog-level = info\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ConfigFile.load(path)
            Issue.record("accepted a bad file")
        } catch {
            #expect(error.problems.map { $0.split(separator: ":").dropFirst().first.map(String.init) } == ["1", "3", "4", "5", "6"], "\(error)")
            #expect(error.problems[0].hasPrefix("\(path):1: warmup: \"many\" is not a whole number"), "\(error)")
            #expect(error.problems[2].hasPrefix("\(path):4: sample-interval: \"5h\""), "\(error)")
            #expect(error.problems[4].hasPrefix("\(path):6: log-level is already set on line 2"), "\(error)")
        }
    }

    @Test func load_readsDevNullAsAnEmptyFile() throws {
        let (options, entries) = try ConfigFile.load("/dev/null")
        #expect(options == DaemonOptions() && entries.isEmpty)
    }

    @Test func resolve_flagsOverrideTheFile_andSourcesSayWhere() throws {
        let path = NSTemporaryDirectory() + "probed-config-\(UUID().uuidString.prefix(8)).conf"
        try "warmup = 5\nlog-level = debug\nsample-interval = 500ms\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try DaemonSettings.resolve(["--config", path, "--warmup", "7"], defaultConfig: "/nonexistent")
        #expect(s.options.warmup == 7 && s.options.logLevel == .debug && s.options.memory.sampleInterval == 500_000_000)
        #expect(s.sources["warmup"] == "command line" && s.sources["log-level"] == "\(path):2" && s.sources["leak-window"] == nil)
        #expect(!s.checkOnly && s.configPath == path)
        #expect(s.render().contains("sample-interval = 500ms"))
    }

    @Test func resolve_withoutAFile_usesDefaults_andTheDefaultPathOnlyWhenPresent() throws {
        let s = try DaemonSettings.resolve(["--check-config"], defaultConfig: "/nonexistent/probed.conf")
        #expect(s.checkOnly && s.configPath == nil && s.options == DaemonOptions())
        #expect(throws: (any Error).self) { try DaemonSettings.resolve(["--config"]) }
    }

    @Test func changes_listOnlyWhatDiffers() {
        var a = DaemonOptions()
        a.warmup = 3
        var b = a
        b.logLevel = .debug
        let c = b.changes(from: a)
        #expect(c.count == 1 && c[0].key == "log-level" && c[0].old == "info" && c[0].new == "debug")
    }
}
