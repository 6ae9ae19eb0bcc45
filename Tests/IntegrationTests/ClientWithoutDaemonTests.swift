import Foundation
import ProbeClient
import ProbePosix
import Testing

@Suite struct ClientWithoutDaemonTests {
    @Test func measure_withNoDaemon_returnsTheBodysValuePromptlyAndCountsDrops() {
        let dir = TemporaryDirectory()
        let start = monotonicNanoseconds()
        let probe = Probe(service: "lonely", socketPath: dir.file("absent.sock"),
                          configuration: .init(bufferCapacity: 1_024))
        let created = monotonicNanoseconds() - start
        let op = probe.operation("predict")
        var sum = 0
        let calls = 100_000
        let loopStart = monotonicNanoseconds()
        for i in 0..<calls { sum &+= op.measure { i } }
        let perCall = Double(monotonicNanoseconds() - loopStart) / Double(calls)
        #expect(sum == (calls - 1) * calls / 2)
        #expect(!probe.isConnected)
        // Nothing can be delivered: flush says so within its timeout instead of hanging.
        #expect(!probe.flush(timeout: .milliseconds(100)))
        // The buffer is bounded: everything beyond it was dropped and counted.
        #expect(probe.droppedEvents >= UInt64(calls - 2 * 1_024))
        // Figures for the closing note, not assertions (this machine is shared and noisy).
        print("no daemon: Probe init \(created) ns, measure \(Int(perCall)) ns per call (debug build)")
    }
}
