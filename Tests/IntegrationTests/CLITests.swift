import Foundation
import Testing

@Suite struct CLITests {
    @Test func unreachableDaemon_exitsOne_namingTheSocketAndHowToStartProbed() throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probectl"), ["--socket", dir.file("nobody.sock"), "stats"])
        #expect(o.status == 1)
        #expect(o.stderr.contains(dir.file("nobody.sock")) && o.stderr.contains("Start it with `probed`"))
    }

    @Test(arguments: [["frobnicate"], ["stats", "--bogus"], [], ["--socket"], ["stats", "--window", "2m"], ["stats", "--window"],
                      ["stats", "--window="], ["status", "--window", "1m"]])
    func usageErrors_exitTwo_withTheUsage(_ arguments: [String]) throws {
        let o = try run(Products.path("probectl"), arguments)
        #expect(o.status == 2)
        #expect(o.stderr.contains("usage: probectl"))
    }

    @Test func badWindow_exitsTwo_namingTheWindowsThereAre() throws {
        let o = try run(Products.path("probectl"), ["stats", "--window", "1h"])
        #expect(o.status == 2 && o.stderr.contains("unknown window \"1h\"") && o.stderr.contains("10s, 1m, 5m, 15m or all"))
    }

    @Test func probedBadFlag_exitsTwo_withTheUsage() throws {
        let o = try run(Products.path("probed"), ["--warmup", "many"])
        #expect(o.status == 2 && o.stderr.contains("--warmup") && o.stderr.contains("usage: probed"))
    }
}
