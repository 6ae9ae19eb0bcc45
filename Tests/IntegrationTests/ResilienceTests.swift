import Foundation
import ProbeControl
import ProbePosix
import ProbeTestKit
import Testing

/// The event path under everything the daemon can do to it: stopped, killed, restarted; and a
/// client that exits. Each case checks the ledger exactly: delivered + dropped = recorded.
@Suite(.serialized) struct ResilienceTests {
    struct LoadResult {
        var recorded: UInt64
        var delivered: UInt64
        var dropped: UInt64
        var flushed: Bool
        var maxCallNs: UInt64
        var connections: Int
        var lastDelivered: UInt64

        init(_ output: String) throws {
            let report = FixtureReport(output)
            guard let r = report.number("recorded"), let d = report.number("delivered"), let x = report.number("dropped"),
                  let m = report.number("max_call_ns"), let c = report.number("connections"), let l = report.number("last_delivered")
            else { throw Failure("unexpected fixture output: \(report)") }
            recorded = r
            delivered = d
            dropped = x
            flushed = report.flag("flushed") == true
            maxCallNs = m
            connections = Int(c)
            lastDelivered = l
        }
    }

    /// Starts the load fixture in the background.
    static func startLoad(socket: String, seconds: Double, rate: Int, buffer: Int) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Products.path("probe-load-fixture"))
        p.arguments = ["--socket", socket, "--seconds", String(seconds), "--rate", String(rate)]
        var env = ProcessInfo.processInfo.environment
        env["PROBE_BUFFER_EVENTS"] = String(buffer)
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, out)
    }

    static func finish(_ p: Process, _ out: Pipe) throws -> LoadResult {
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return try LoadResult(String(decoding: data, as: UTF8.self))
    }

    static func process(_ status: StatusReport, pid: Int32) -> ProcessRow? {
        status.processes.last { $0.pid == Int(pid) }
    }

    @Test func daemonStopped_callsNeverBlock_dropsAreCounted_andAllResumesOnSIGCONT() throws {
        let daemon = try RunningDaemon()
        // 600,000 events/s for a 2 s stop is 38 MB: more than the client's buffer (4,096 events)
        // and the kernel's socket buffer together, so drops are certain.
        let (p, out) = try Self.startLoad(socket: daemon.socket, seconds: 4, rate: 600_000, buffer: 4_096)
        usleep(1_000_000)
        kill(daemon.pid, SIGSTOP)
        usleep(2_000_000)
        kill(daemon.pid, SIGCONT)
        let r = try Self.finish(p, out)
        print("SIGSTOP: recorded \(r.recorded) delivered \(r.delivered) dropped \(r.dropped), slowest record call \(r.maxCallNs) ns")
        #expect(r.flushed)
        #expect(r.delivered + r.dropped == r.recorded)
        #expect(r.dropped > 0)
        // A call that waited for the stopped probed would take most of the 2 s stop; half of it
        // separates "blocked" from "descheduled on a loaded machine" (52 ms was seen at load 16,
        // which is the scheduler, not the client). The latency itself is probe-bench's Stall row.
        let bound: UInt64 = 1_000_000_000
        #expect(r.maxCallNs < bound, "a call blocked for \(r.maxCallNs) ns")
        let row = try #require(Self.process(try daemon.status(), pid: p.processIdentifier))
        #expect(row.eventsReceived == r.delivered && row.droppedEvents == r.dropped)
    }

    @Test func daemonKilledAndRestarted_clientReconnectsDeliversBufferedAndCountsTheRest() throws {
        let first = try RunningDaemon()
        let socket = first.socket
        let (p, out) = try Self.startLoad(socket: socket, seconds: 5, rate: 50_000, buffer: 65_536)
        usleep(1_500_000)
        kill(first.pid, SIGKILL)  // under load: whatever sat unread in its socket is lost
        first.process.waitUntilExit()
        usleep(700_000)  // the client buffers meanwhile
        let second = try RunningDaemon(socket: socket)
        let r = try Self.finish(p, out)
        print("SIGKILL: recorded \(r.recorded) delivered \(r.delivered) dropped \(r.dropped) over \(r.connections) connections")
        #expect(r.flushed)
        #expect(r.delivered + r.dropped == r.recorded)
        #expect(r.connections == 2)
        // The new daemon holds exactly what the client counts as delivered on the new connection,
        // including what was buffered while no daemon ran, and the client's drop count.
        let row = try #require(Self.process(try second.status(), pid: p.processIdentifier))
        #expect(row.eventsReceived == r.lastDelivered && row.droppedEvents == r.dropped)
        #expect(r.lastDelivered > 50_000 * 2)  // at least the downtime's and the remaining seconds' events
    }

    @Test func clientThatExitsWithoutFlushing_deliversWithinItsBoundedExitFlush() throws {
        let daemon = try RunningDaemon()
        let start = Date()
        let o = try run(Products.path("probe-load-fixture"),
                        ["--socket", daemon.socket, "--seconds", "0.5", "--rate", "20000", "--then-exit"])
        let took = Date().timeIntervalSince(start)
        #expect(o.status == 0)
        let recorded = FixtureReport(o.stdout).number("recorded") ?? 0
        let row = try #require(try daemon.status().processes.first { $0.service == "load" })
        print("exit flush: recorded \(recorded), probed received \(row.eventsReceived), process took \(took) s")
        #expect(recorded > 0 && row.eventsReceived + row.droppedEvents == recorded)
    }

    @Test func clientWithNoDaemon_exitsPromptly() throws {
        let dir = TemporaryDirectory()
        let start = Date()
        let o = try run(Products.path("probe-load-fixture"),
                        ["--socket", dir.file("absent.sock"), "--seconds", "0.2", "--rate", "1000", "--then-exit"], timeout: 20)
        let took = Date().timeIntervalSince(start)
        print("no daemon: the client process exited after \(took) s")
        #expect(o.status == 0)
        #expect(took < 10)  // generous: the exit flush is bounded to 300 ms; this only catches a hang
    }
}
