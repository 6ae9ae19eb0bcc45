import Foundation
import ProbeClient
import ProbePosix
import Testing

/// `measure("name")` finds a name by the String's identity or by its bytes (ProbeClient's
/// OperationNames): every form of one name must land in one operation, and the limit holds.
@Suite(.serialized) struct NameLookupTests {
    @Test func oneNameInEveryForm_landsInOneOperation() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let probe = Probe(service: "forms", socketPath: daemon.socket)
        let long = "inference.request.postprocess"  // a literal of 29 bytes: stored in the binary
        let kept = ["inference", "request", "postprocess"].joined(separator: ".")  // built once, kept
        let n = 1_000
        for i in 0..<n {
            probe.measure("inference.request.postprocess") {}
            probe.measure(long) {}
            probe.measure(kept) {}
            probe.measure("inference.request." + (i % 2 == 0 ? "postprocess" : "postprocess")) {}  // new each call
            probe.measure(String(Substring("xinference.request.postprocess").dropFirst())) {}
            probe.measure("short") {}
            probe.measure("sh" + "ort") {}  // built at run time, small enough to be held inline
        }
        #expect(probe.flush(timeout: .seconds(30)))
        let rows = try daemon.stats().operations.filter { $0.service == "forms" && $0.pid != nil }
        var calls: [String: UInt64] = [:]
        for row in rows { calls[row.operation, default: 0] += row.calls }
        #expect(calls == ["inference.request.postprocess": UInt64(5 * n), "short": UInt64(2 * n)])
    }

    @Test func namesPastTheLimit_areDroppedAndCounted_whileKnownNamesKeepRecording() {
        let probe = Probe(service: "many", socketPath: "/nonexistent/probed.sock")
        for i in 0..<4_096 { probe.measure("operation.number.\(i)") {} }
        #expect(probe.droppedEvents == 0)
        probe.measure("one.literal.too.many") {}
        probe.measure("one.literal.too.many") {}  // remembered as over the limit: still dropped
        probe.measure("run.time.\(4_096).and.some") {}
        #expect(probe.droppedEvents == 3)
        probe.measure("operation.number.\(7)") {}
        let handle = probe.operation("operation.number.4095")
        handle.measure {}
        #expect(probe.droppedEvents == 3)
        #expect(probe.bufferedEvents == 4_096 + 2)
    }
}
