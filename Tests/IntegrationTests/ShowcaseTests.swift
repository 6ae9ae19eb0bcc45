import Foundation
import ProbeControl
import Testing

/// The showcase (Sources/probe-demo), as the README runs it, against a real probed: predict's
/// warm-up is per batch size, so no warm-up call shows in its p99.9 or max (issue 17 item 8).
@Suite struct ShowcaseTests {
    @Test func predictsMaxAndP999_areOrdinaryCalls_neverTheBatchSizesWarmup() throws {
        let daemon = try RunningDaemon(["--warmup", "10"])
        // Past warm-up (10 calls per batch size, five sizes, two workers) there must be calls to
        // judge: a sanitized build serves several times fewer, so it runs longer.
        let seconds = Sanitizer.name == nil ? 3 : 10
        let o = try run(Products.path("probe-demo"), ["--socket", daemon.socket, "--seconds", String(seconds)], timeout: 120)
        #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
        // "predict's warm-up: K calls packed … taking A–B; … at most its longest other call, Cms"
        let line = try #require(o.stdout.split(separator: "\n").first { $0.contains("predict's warm-up") }, "\(o.stdout)")
        let packed = try #require(Int(line.components(separatedBy: "warm-up: ")[1].split(separator: " ")[0]))
        let longestOther = try #require(Double(line.components(separatedBy: "longest other call, ")[1].dropLast(2)))
        let predict = try #require(try daemon.stats().operations.first { $0.operation == "predict" && $0.pid != nil })
        print("showcase: \(packed) packing calls; predict max \(predict.maxNs ?? 0) ns, p99.9 \(predict.p999Ns ?? 0) ns, longest other call \(longestOther) ms, warmup \(predict.warmup) of \(predict.calls)")
        #expect(packed >= 1 && predict.warmup >= UInt64(packed))
        try #require(predict.counted > 0, "the showcase served no predict call past warm-up in \(seconds) s (\(predict.calls) calls): nothing to judge")
        // The demo's own clock is read around `measure`, so its reading of a call is the longer one;
        // it prints milliseconds to two decimals (rounded down).
        #expect(Double(predict.maxNs ?? .max) <= (longestOther + 0.01) * 1e6, "a warm-up call is in predict's max")
        #expect((predict.p999Ns ?? .max) <= (predict.maxNs ?? 0))
        #expect(o.stdout.contains("predict"))
    }
}
