import Foundation
import Testing
@testable import ProbeDaemon

@Suite struct MemoryOptionsTests {
    @Test func durations_parseWithTheirUnits() {
        #expect(MemoryOptions.parseDuration("500ms") == 500_000_000)
        #expect(MemoryOptions.parseDuration("1s") == 1_000_000_000)
        #expect(MemoryOptions.parseDuration("2.5s") == 2_500_000_000)
        #expect(MemoryOptions.parseDuration("5m") == 300_000_000_000)
        for bad in ["", "1", "s", "-1s", "0s", "1x", "fast", "nans", "infs"] {
            #expect(MemoryOptions.parseDuration(bad) == nil, "\(bad)")
        }
    }

    @Test func sizes_parseBinaryAndDecimalUnits_andAnOptionalPerMinute() {
        #expect(MemoryOptions.parseSize("1MiB") == 1_048_576)
        #expect(MemoryOptions.parseSize("512KiB/min") == 524_288)
        #expect(MemoryOptions.parseSize("10MB") == 10_000_000)
        #expect(MemoryOptions.parseSize("4096") == 4096)
        for bad in ["", "MiB", "-1MiB", "0", "1 parsec"] { #expect(MemoryOptions.parseSize(bad) == nil, "\(bad)") }
    }

    @Test func flags_setTheOptions_andBadValuesNameTheFlag() throws {
        let o = try DaemonOptions.parse(["--sample-interval", "200ms", "--leak-threshold=2MiB", "--leak-window", "2m"])
        #expect(o.memory.sampleInterval == 200_000_000 && o.memory.leakThresholdBytesPerMinute == 2_097_152)
        #expect(o.memory.leakWindow == 120_000_000_000)
        for (flag, value) in [("--sample-interval", "soon"), ("--sample-interval", "10ms"), ("--sample-interval", "2m"),
                              ("--leak-threshold", "lots"), ("--leak-threshold", "0"), ("--leak-window", "5s")] {
            #expect {
                _ = try DaemonOptions.parse([flag, value])
            } throws: { error in
                "\(error)".hasPrefix(flag) && "\(error)".contains(value)
            }
        }
    }

    @Test func procStatus_parsesTheKernelsKilobytesAsBytes() throws {
        let text = """
            Name:\tpython3
            VmPeak:\t  900000 kB
            VmHWM:\t   81920 kB
            VmRSS:\t   40960 kB
            RssAnon:\t   30720 kB
            VmSwap:\t       0 kB
            Threads:\t4
            """
        let s = try #require(ProcStatus.parse(text))
        #expect(s == ProcStatus(rssBytes: 40 << 20, peakBytes: 80 << 20, anonBytes: 30 << 20, swapBytes: 0))
        #expect(ProcStatus.parse("Name:\tkthreadd\nState:\tS\n") == nil)
        let me = try #require(ProcStatus.read(pid: getpid()))
        #expect(me.rssBytes > 0 && me.peakBytes >= me.rssBytes)
    }
}
