import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// Clients that misbehave without sending malformed bytes (MalformedInputTests covers those):
/// silent, idle by the thousand, flooding, killed mid-send, defining names without end. In each
/// case probed keeps serving everyone else with exact counts, and its memory stays bounded.
/// Memory figures are printed; the only bound asserted is the one that is a correctness property
/// (the series cap keeps memory from growing with the number of names).
@Suite(.serialized) struct HostileClientTests {
    /// probed's resident memory in KiB, from /proc/<pid>/status.
    static func residentKiB(_ pid: Int32) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// probed's open sockets: its connections (and listening socket), without the files its
    /// samplers open and close at their own pace (/proc, NVML), which make a plain descriptor
    /// count move by one or two from one moment to the next.
    static func openSockets(_ pid: Int32) -> Int {
        let dir = "/proc/\(pid)/fd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)) ?? "").hasPrefix("socket:") }.count
    }

    /// probed's sockets once the connections made to see that it listens have gone (the fewest
    /// over 300 ms): the baseline the counts above are compared with.
    static func settledSockets(_ pid: Int32) -> Int {
        (0..<6).map { _ in usleep(50_000); return openSockets(pid) }.min() ?? 0
    }

    /// Raises this process's soft descriptor limit to at least `n` (the hard limit permitting).
    static func raiseDescriptorLimit(to n: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(n) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(n))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Records `count` events on a fresh in-process client and checks the ACK ledger and probed's count.
    /// (`already`: the calls the service's series held before.) Drops are allowed: counted, they are not loss.
    static func exactCounts(_ daemon: RunningDaemon, service: String, count: Int, already: UInt64 = 0) throws {
        let probe = Probe(service: service, socketPath: daemon.socket)
        let op = probe.operation("steady")
        for i in 0..<count { op.record(nanoseconds: 1_000 + UInt64(i % 100)) }
        #expect(probe.flush(timeout: .seconds(30)))
        #expect(probe.deliveredEvents + probe.droppedEvents == UInt64(count))
        let stats = try daemon.stats()
        let row = try #require(stats.operations.first { $0.service == service && $0.pid != nil })
        #expect(row.calls == already + probe.deliveredEvents)
    }

    @Test func silentClientAndThousandIdleConnections_othersKeepExactCounts() throws {
        Self.raiseDescriptorLimit(to: 4096)
        // Held past the default 5 s --hello-timeout while the others are measured (slow under the
        // sanitizers); ConnectionLifecycleTests checks that the deadline closes them.
        let daemon = try RunningDaemon(["--warmup", "0", "--hello-timeout", "10m"])
        let rssBefore = Self.residentKiB(daemon.pid)
        let fdsBefore = Self.settledSockets(daemon.pid)
        // One that connects and never sends, then a thousand more.
        var idle: [Int32] = []
        for _ in 0..<1001 { idle.append(try UnixSocket.connect(path: daemon.socket)) }
        try Self.exactCounts(daemon, service: "amid-idle", count: 50_000)
        let status = try daemon.status()
        #expect(status.pid == Int(daemon.pid))
        let rssDuring = Self.residentKiB(daemon.pid)
        let fdsDuring = Self.openSockets(daemon.pid)
        for fd in idle { close(fd) }
        // Closing them gives every descriptor back (status answers after the ingest loop saw them go).
        try Self.exactCounts(daemon, service: "after-idle", count: 1_000)
        var fdsAfter = Self.openSockets(daemon.pid)
        for _ in 0..<100 where fdsAfter > fdsBefore + 5 { usleep(50_000); fdsAfter = Self.openSockets(daemon.pid) }
        print("idle connections: probed RSS \(rssBefore) KiB before, \(rssDuring) KiB with 1001 idle, sockets \(fdsBefore) -> \(fdsDuring) -> \(fdsAfter)")
        #expect(fdsDuring >= fdsBefore + 1001)
        #expect(fdsAfter <= fdsBefore + 5, "descriptors of closed idle connections were not released")
    }

    @Test func floodingClient_othersKeepExactCounts() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let flooder = try ResilienceTests.startLoad(socket: daemon.socket, seconds: 4, rate: 200_000_000, buffer: 1 << 16)
        let normal = try (0..<2).map { _ in try ResilienceTests.startLoad(socket: daemon.socket, seconds: 3, rate: 50_000, buffer: 1 << 16) }
        let results = try normal.map { try ResilienceTests.finish($0.0, $0.1) }
        let flood = try ResilienceTests.finish(flooder.0, flooder.1)
        let status = try daemon.status()
        for (r, p) in zip(results + [flood], normal.map(\.0) + [flooder.0]) {
            #expect(r.delivered + r.dropped == r.recorded, "pid \(p.processIdentifier): \(r)")
            #expect(ResilienceTests.process(status, pid: p.processIdentifier)?.eventsReceived == r.delivered)
        }
        for r in results { #expect(r.dropped == 0, "a normal client lost events to the flooder: \(r)") }
        print("flood: flooder recorded \(flood.recorded) delivered \(flood.delivered) dropped \(flood.dropped); normal clients \(results.map { "\($0.delivered)/\($0.recorded)" }); probed RSS \(Self.residentKiB(daemon.pid)) KiB")
    }

    @Test func clientKilledMidSend_probedKeepsServing_andNamesItsPid() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let (victim, out) = try ResilienceTests.startLoad(socket: daemon.socket, seconds: 60, rate: 5_000_000, buffer: 1 << 16)
        // Wait until it has delivered something, then kill it in the middle of its stream.
        var row: ProcessRow? = nil
        for _ in 0..<200 {
            row = ResilienceTests.process(try daemon.status(), pid: victim.processIdentifier)
            if (row?.eventsReceived ?? 0) > 0 { break }
            usleep(50_000)
        }
        #expect((row?.eventsReceived ?? 0) > 0)
        kill(victim.processIdentifier, SIGKILL)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        victim.waitUntilExit()
        try Self.exactCounts(daemon, service: "survivor", count: 10_000)
        var state = ""
        for _ in 0..<100 {
            state = ResilienceTests.process(try daemon.status(), pid: victim.processIdentifier)?.state ?? ""
            if state == "exited" { break }
            usleep(50_000)
        }
        #expect(state == "exited")
        #expect(daemon.logText.contains("client disconnected: service load pid \(victim.processIdentifier)"))
    }

    @Test func floodOfDistinctNames_isRefusedPastMaxSeries_visiblyAndWithBoundedMemory() throws {
        let cap = 50
        let daemon = try RunningDaemon(["--warmup", "0", "--max-series", String(cap)])
        try Self.exactCounts(daemon, service: "good", count: 1_000)  // one series, defined before the flood
        let rssBefore = Self.residentKiB(daemon.pid)
        // 5 connections, each defining 4,000 distinct names and sending one event for each.
        let connections = 5, names = 4_000
        // Kept open until probed has read everything: closing a Unix socket with unread ACKs in
        // its queue makes the kernel reset the connection, discarding what probed had not yet read.
        var peers: [RawPeer] = []
        for c in 0..<connections {
            let peer = try RawPeer(daemon.socket)
            peers.append(peer)
            try peer.handshake(service: "flood")
            for i in 0..<names {
                let name = "op-\(c)-\(i)-" + String(repeating: "x", count: 100)
                #expect(peer.send(WireEncoder.define(Definition(id: UInt32(i), kind: .operation, name: name))))
            }
            var start = 0
            while start < names {
                let records = (start..<min(names, start + 1000)).map {
                    EventRecord(operationID: UInt32($0), startNanoseconds: 1, durationNanoseconds: 1_000)
                }
                #expect(peer.send(WireEncoder.events(droppedTotal: 0, records: records)))
                start += 1000
            }
        }
        try Self.exactCounts(daemon, service: "good", count: 1_000, already: 1_000)  // an existing series is never refused
        // Wait until probed has read what the flooders queued.
        var status = try daemon.status()
        for _ in 0..<200 where status.eventsReceived < UInt64(2_000 + connections * names) {
            usleep(50_000)
            status = try daemon.status()
        }
        peers.removeAll()
        let rssAfter = Self.residentKiB(daemon.pid)
        let total = connections * names
        print("series flood: \(total) names offered, \(status.series) series held, \(status.seriesRefused ?? 0) refused, \(status.eventsRefused ?? 0) events refused; probed RSS \(rssBefore) -> \(rssAfter) KiB")
        #expect(status.series == cap)
        #expect(status.maxSeries == cap)
        #expect(status.seriesRefused == UInt64(total - (cap - 1)))
        #expect(status.eventsRefused == UInt64(total - (cap - 1)))
        #expect(status.eventsReceived == UInt64(2_000 + total))  // received and counted, never lost silently
        // Logged once per connection, naming the pid.
        let refusals = daemon.logText.split(separator: "\n").filter { $0.contains("refused new series") }
        #expect(refusals.count == connections)
        #expect(refusals.allSatisfy { $0.contains("pid \(getpid())") })
        // Unbounded growth would be ~20,000 series (up to 32 KiB each): hundreds of MiB.
        if !Sanitizer.distortsMemory {  // ASan's quarantine keeps every freed name: 300+ MiB here
            #expect(rssAfter - rssBefore < 96 * 1024, "probed grew \(rssAfter - rssBefore) KiB for refused names")
        }
        let prometheusFamilies = try daemon.probectl(["status"])
        #expect(prometheusFamilies.stdout.contains("new series refused"))
    }
}
