import ProbeClient
import Testing

/// Counts how often a call site's attributes were evaluated.
final class AttributeTally: @unchecked Sendable {
    var evaluations = 0
    func attributes(_ batch: Int) -> [String: String] {
        evaluations += 1
        return ["batch": String(batch), "shape": "\(batch)x3x224x224"]
    }
}

struct Timeout: Error {}

/// The client side of slow calls, in process (no daemon: details are queued, then dropped and counted).
@Suite struct SlowCallClientTests {
    @Test func fastSuccessfulCalls_neverEvaluateTheirAttributes() async throws {
        let probe = Probe(service: "lazy", socketPath: "/nonexistent/probed.sock")
        let op = probe.operation("predict", slowThreshold: .seconds(10))
        let tally = AttributeTally()
        var sum = 0
        for i in 0..<1_000 {
            sum &+= op.measure(items: 8, attributes: tally.attributes(8)) { i }
            sum &+= probe.measure("by_name", items: 2, attributes: tally.attributes(2)) { i }
            op.record(nanoseconds: 1_000, items: 4, attributes: tally.attributes(4))
        }
        sum &+= await op.measure(items: 8, attributes: tally.attributes(8)) { () async in 1 }
        #expect(tally.evaluations == 0)
        #expect(sum > 0)
    }

    @Test func slowOrFailedCalls_evaluateTheirAttributesOnce() async throws {
        let probe = Probe(service: "lazy", socketPath: "/nonexistent/probed.sock")
        let slow = probe.operation("slow", slowThreshold: .nanoseconds(1))
        let tally = AttributeTally()
        slow.measure(items: 8, attributes: tally.attributes(8)) { sleepMicroseconds(50) }
        #expect(tally.evaluations == 1)
        let fast = probe.operation("fast", slowThreshold: .seconds(10))
        #expect(throws: Timeout.self) { try fast.measure(attributes: tally.attributes(1)) { throw Timeout() } }
        #expect(tally.evaluations == 2)
        await #expect(throws: Timeout.self) {
            try await fast.measure(attributes: tally.attributes(1)) { () async throws in throw Timeout() }
        }
        #expect(tally.evaluations == 3)
        fast.record(nanoseconds: 5, failed: true, attributes: tally.attributes(1))
        #expect(tally.evaluations == 4)
        fast.record(nanoseconds: 20_000_000_000, attributes: tally.attributes(1))  // 20 s > 10 s: slow
        #expect(tally.evaluations == 5)
    }

    @Test func withoutAnyThreshold_slowCallsAreNotDetailed_butFailuresAre() throws {
        let probe = Probe(service: "lazy", socketPath: "/nonexistent/probed.sock")
        let op = probe.operation("plain")
        #expect(op.slowThreshold == nil)
        let tally = AttributeTally()
        op.record(nanoseconds: 60_000_000_000, attributes: tally.attributes(1))
        #expect(tally.evaluations == 0)
        #expect(throws: Timeout.self) { try op.measure(attributes: tally.attributes(1)) { throw Timeout() } }
        #expect(tally.evaluations == 1)
    }

    @Test func clientThreshold_isSetPerOperation_andNilClearsIt() {
        let probe = Probe(service: "lazy", socketPath: "/nonexistent/probed.sock")
        _ = probe.operation("predict", slowThreshold: .milliseconds(50))
        #expect(probe.slowThreshold(for: "predict") == .milliseconds(50))
        #expect(probe.operation("predict").slowThreshold == .milliseconds(50))
        #expect(probe.slowThreshold(for: "other") == nil)
        _ = probe.operation("predict", slowThreshold: nil)
        #expect(probe.slowThreshold(for: "predict") == nil)
    }

    @Test func fullDetailQueue_dropsAndCountsDetails_notEvents() {
        let probe = Probe(service: "lazy", socketPath: "/nonexistent/probed.sock")
        let op = probe.operation("failing")
        for _ in 0..<300 { op.record(nanoseconds: 1, failed: true) }
        // No daemon: the queue holds 256; the rest are dropped and counted. Events go to the event buffer.
        #expect(probe.droppedCallDetails == 300 - 256)
        #expect(probe.droppedEvents == 0)
    }
}

func sleepMicroseconds(_ us: UInt64) {
    let end = ContinuousClock.now + .microseconds(us)
    while ContinuousClock.now < end {}
}
