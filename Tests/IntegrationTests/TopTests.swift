#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `probectl top` in a pseudo-terminal (util-linux `script`) and through a pipe.
@Suite struct TopTests {
    static func daemonWithTraffic() throws -> (RunningDaemon, TemporaryDirectory) {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let durations = dir.file("durations.txt")
        try (1...50).map { String($0 * 10_000) }.joined(separator: "\n").write(toFile: durations, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probe-fixture"), ["--socket", daemon.socket, "--service", "ranker", "--operation", "predict",
                                                          "--durations", durations, "--fail-every", "10"])
        #expect(o.status == 0)
        return (daemon, dir)
    }

    @Test func piped_printsOnePlainSnapshotPerInterval() throws {
        let (daemon, _) = try Self.daemonWithTraffic()
        let o = try run(Products.path("probectl"), ["--socket", daemon.socket, "top", "--interval", "200ms", "--iterations", "2"])
        print(o.stdout)
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.components(separatedBy: "probectl top ").count == 3, "two snapshots")
        #expect(o.stdout.contains("ranker/predict") && o.stdout.contains("CALLS/S") && o.stdout.contains("ERR/S"))
        #expect(o.stdout.contains("PID") && o.stdout.contains("RSS"))
        #expect(!o.stdout.contains("\u{1B}"), "no terminal codes when piped")
    }

    @Test(arguments: [["--interval", "5"], ["--interval", "10ms"], ["--iterations", "0"], ["--sort", "size"], ["--bogus"]])
    func badOptions_exitTwo(_ arguments: [String]) throws {
        let o = try run(Products.path("probectl"), ["top"] + arguments)
        #expect(o.status == 2 && !o.stderr.isEmpty, "\(o.stderr)")
    }

    @Test func unreachableDaemon_exitsOne() throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probectl"), ["--socket", dir.file("none.sock"), "top", "--iterations", "1"])
        #expect(o.status == 1 && o.stderr.contains("Start it with `probed`"))
    }

    /// Drives top in a 40-column pseudo-terminal: it refreshes, takes a sort key, quits on q, and
    /// leaves the terminal as it found it (main screen, cursor shown, canonical mode and echo).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script"))
    func inATerminal_refreshesInPlace_quitsOnQ_andRestoresTheTerminal() throws {
        let (daemon, _) = try Self.daemonWithTraffic()
        let command = "stty cols 40 rows 16; \(Products.path("probectl")) --socket \(daemon.socket) top --interval 200ms; echo EXIT=$?; echo STTY; stty -a"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qfec", command, "/dev/null"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        let text = Locked("")
        DispatchQueue.global().async {
            while case let data = output.fileHandleForReading.availableData, !data.isEmpty {
                text.update { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        func waitFor(_ done: (String) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if done(text.get()) { return true }
                usleep(20_000)
            }
            return false
        }
        let frames = { (s: String) in s.components(separatedBy: "probectl top ").count - 1 }
        #expect(waitFor { frames($0) >= 2 }, "two frames drawn: \(text.get())")
        input.fileHandleForWriting.write(Data("p".utf8))
        #expect(waitFor { $0.contains("by p99") }, "the sort key takes effect")
        input.fileHandleForWriting.write(Data("q".utf8))
        let finished = waitFor { $0.contains("EXIT=") && $0.contains("speed") }
        try? input.fileHandleForWriting.close()
        if !finished { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let out = text.get()
        #expect(finished && out.contains("EXIT=0"), "\(out)")
        #expect(out.contains("\u{1B}[?1049h") && out.contains("\u{1B}[?25l"), "alternate screen, hidden cursor")
        let restore = out.range(of: "\u{1B}[?1049l")
        #expect(restore != nil && out.contains("\u{1B}[?25h"), "main screen and cursor restored")
        let settings = out.components(separatedBy: "STTY").last ?? ""
        #expect(!settings.contains("-icanon") && !settings.contains("-echo "), "canonical mode and echo restored: \(settings)")
        // Every drawn line fits the 40 columns.
        let screen = out.components(separatedBy: "EXIT=").first ?? ""
        let plain = screen.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: "\n", options: .regularExpression)
        let widest = plain.components(separatedBy: CharacterSet.newlines).map(\.count).max() ?? 0
        print("widest line drawn in a 40-column terminal: \(widest)")
        #expect(widest <= 40)
        #expect(plain.contains("ranker/p"))
    }
}
