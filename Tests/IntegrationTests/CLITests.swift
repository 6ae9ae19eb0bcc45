import Foundation
import Testing

@Suite struct CLITests {
    @Test func unreachableDaemon_exitsOne_namingTheSocketAndHowToStartProbed() throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probectl"), ["--socket", dir.file("nobody.sock"), "stats"])
        #expect(o.status == 1)
        #expect(o.stderr.contains(dir.file("nobody.sock")) && o.stderr.contains("Start it with `probed`"))
    }

    @Test(arguments: [["frobnicate"], ["stats", "--bogus"], [], ["--socket"]])
    func usageErrors_exitTwo_withTheUsage(_ arguments: [String]) throws {
        let o = try run(Products.path("probectl"), arguments)
        #expect(o.status == 2)
        #expect(o.stderr.contains("usage: probectl"))
    }

    @Test func probedBadFlag_exitsTwo_withTheUsage() throws {
        let o = try run(Products.path("probed"), ["--warmup", "many"])
        #expect(o.status == 2 && o.stderr.contains("--warmup") && o.stderr.contains("usage: probed"))
    }
}
