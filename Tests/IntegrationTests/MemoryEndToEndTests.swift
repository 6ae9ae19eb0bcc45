import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// A child process that is killed (SIGKILL) when this goes away, whatever the test did.
final class ChildProcess {
    let process = Process()
    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }
    var pid: Int { Int(process.processIdentifier) }
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
    deinit { kill() }
}

extension RunningDaemon {
    func procs() throws -> ProcsReport {
        let o = try probectl(["procs", "--json"])
        guard o.status == 0 else { throw Failure("probectl procs failed (\(o.status)): \(o.stderr)") }
        return try JSONDecoder.snakeCase.decode(ProcsReport.self, from: Data(o.stdout.utf8))
    }
}

func mib(_ bytes: Double?) -> String { bytes.map { String(format: "%.1f MiB", $0 / 1_048_576) } ?? "-" }

@Suite(.serialized) struct MemoryEndToEndTests {
    /// The issue's acceptance test: real processes, the real probed, the real probectl. Beside the
    /// leaker and the process that allocates once, a third reads a 400 MiB file through a
    /// read-only mmap, 4 MiB every 0.5 s (issue 17 item 4): its resident memory grows as fast as
    /// the leaker's, but file-backed, and it is never flagged.
    @Test(.disabled(if: Sanitizer.distortsMemory, "under a sanitizer a process that allocates once grows too (ASan's quarantine)"))
    func leakingProcess_isFlaggedWithinAMinute_andOneThatAllocatesOnce_orReadsAMappedFile_neverIs() throws {
        let daemon = try RunningDaemon(["--sample-interval", "200ms"])
        let fixture = Products.path("probe-leak-fixture")
        let leaker = try ChildProcess(fixture, ["--socket", daemon.socket, "--service", "leaky", "--mode", "leak", "--seconds", "90"])
        let holder = try ChildProcess(fixture, ["--socket", daemon.socket, "--service", "steady", "--mode", "hold", "--seconds", "90"])
        let mapper = try ChildProcess(fixture, ["--socket", daemon.socket, "--service", "weights", "--mode", "mmap", "--seconds", "90",
                                                "--file", daemon.directory.file("weights.bin")])
        defer { leaker.kill(); holder.kill(); mapper.kill() }
        var mapperEverFlagged = false

        var flaggedAfter: UInt64? = nil  // the leaker's connected_for_ns when first seen flagged
        var holderWatched: UInt64 = 0
        var holderEverFlagged = false
        var last: ProcsReport? = nil
        // Poll until the leaker is flagged and the holder has been watched at least as long (>= 30 s
        // connected), giving up after 75 s. Figures are printed; the bound checked is the daemon's own.
        let start = Date()
        while Date().timeIntervalSince(start) < 75 {
            let procs = try daemon.procs()
            last = procs
            let l = procs.processes.first { $0.pid == leaker.pid }
            let h = procs.processes.first { $0.pid == holder.pid }
            if let l, l.leakSuspected, flaggedAfter == nil { flaggedAfter = l.connectedForNs }
            if let h {
                holderWatched = h.connectedForNs
                if h.leakSuspected { holderEverFlagged = true }
                #expect(!h.leakSuspected, "the 64 MiB-once process was flagged: \(h)")
            }
            if let m = procs.processes.first(where: { $0.pid == mapper.pid }), m.leakSuspected {
                mapperEverFlagged = true
                Issue.record("the process reading a mapped file was flagged: \(m)")
            }
            if flaggedAfter != nil && holderWatched >= max(30_000_000_000, flaggedAfter!) { break }
            Thread.sleep(forTimeInterval: 1)
        }
        let l = try #require(last?.processes.first { $0.pid == leaker.pid })
        let h = try #require(last?.processes.first { $0.pid == holder.pid })
        print("""
            memory e2e: leaker flagged after \(flaggedAfter.map { String(format: "%.1f s", Double($0) / 1e9) } ?? "never") \
            of connection (growth \(mib(l.rssGrowthBytesPerMin))/min, fit \(l.rssGrowthFit ?? .nan), rss \(mib(l.rssBytes.map { Double($0) })), \
            \(l.samples) samples); holder watched \(String(format: "%.1f s", Double(holderWatched) / 1e9)), never flagged: \
            \(!holderEverFlagged) (rss \(mib(h.rssBytes.map { Double($0) })), peak \(mib(h.rssPeakBytes.map { Double($0) })), \
            growth \(mib(h.rssGrowthBytesPerMin))/min, fit \(h.rssGrowthFit ?? .nan), trend \(h.trend))
            """)
        let after = try #require(flaggedAfter, "the leaking process was never flagged: \(l)")
        #expect(after <= 60_000_000_000)
        #expect(holderWatched >= 30_000_000_000 && !holderEverFlagged)
        #expect(l.service == "leaky" && l.state == "connected" && l.eventsReceived > 0 && l.droppedEvents == 0)
        #expect((l.rssGrowthBytesPerMin ?? 0) > 100 * 1_048_576 && (l.rssGrowthFit ?? 0) > 0.6)
        #expect((h.rssBytes ?? 0) >= 64 * 1_048_576 && (h.rssPeakBytes ?? 0) >= (h.rssBytes ?? 0))
        // The leak is in memory the process owns; the mapped file's pages are file-backed.
        #expect((l.ownedGrowthBytesPerMin ?? 0) > 100 * 1_048_576 && l.trend == "leak")
        let m = try #require(last?.processes.first { $0.pid == mapper.pid })
        print("""
            memory e2e: mapped-file reader watched \(String(format: "%.1f s", Double(m.connectedForNs) / 1e9)): rss \(mib(m.rssBytes.map { Double($0) })) \
            (file \(mib(m.rssFileBytes.map { Double($0) })), shmem \(mib(m.rssShmemBytes.map { Double($0) })), owned \(mib(m.ownedBytes.map { Double($0) }))), \
            rss growth \(mib(m.rssGrowthBytesPerMin))/min fit \(m.rssGrowthFit ?? .nan), owned growth \(mib(m.ownedGrowthBytesPerMin))/min, \
            trend \(m.trend), ever flagged: \(mapperEverFlagged)
            """)
        #expect(m.connectedForNs >= 30_000_000_000 && !mapperEverFlagged && !m.leakSuspected && m.trend != "leak")
        // Its resident memory did grow like a leak's (what was flagged before), all of it file-backed.
        #expect((m.rssGrowthBytesPerMin ?? 0) > 100 * 1_048_576 && (m.rssGrowthFit ?? 0) > 0.6)
        #expect((m.rssFileBytes ?? 0) + (m.rssShmemBytes ?? 0) >= 100 * 1_048_576)
        #expect(abs(m.ownedGrowthBytesPerMin ?? .infinity) < 1_048_576 && (m.ownedBytes ?? .max) < 64 * 1_048_576)

        // The JSON has the issue's keys, with the documented types.
        let text = try daemon.probectl(["procs", "--json"]).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let rows = try #require(object["processes"] as? [[String: Any]])
        for key in ["service", "pid", "state", "rss_bytes", "rss_peak_bytes", "rss_growth_bytes_per_min", "leak_suspected",
                    "dropped_events", "rss_growth_fit", "events_received"] {
            #expect(rows.allSatisfy { $0.keys.contains(key) }, "missing \(key)")
        }
        #expect(rows.allSatisfy { $0["leak_suspected"] is Bool })

        // A process that goes away stays visible, marked exited, with its last figures.
        leaker.kill()
        var exited: ProcessMemoryRow? = nil
        for _ in 0..<50 where exited == nil {
            exited = try daemon.procs().processes.first { $0.pid == l.pid && $0.state == "exited" }
            if exited == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let gone = try #require(exited)
        #expect(gone.rssBytes != nil && gone.exitedAgoNs != nil && gone.leakSuspected)

        let table = try daemon.probectl(["procs"])
        #expect(table.status == 0 && table.stdout.contains("leaky") && table.stdout.contains("SUSPECTED") && table.stdout.contains("steady"))
        print(table.stdout)
    }

    @Test func perCallDelta_ofABodyThatTouches16MiB_isThat16MiB() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let o = try run(Products.path("probe-leak-fixture"), ["--socket", daemon.socket, "--service", "loader", "--mode", "delta", "--calls", "8"])
        #expect(o.status == 0, "\(o.stdout) \(o.stderr)")
        let rows = try daemon.stats().operations.filter { $0.service == "loader" && $0.pid != nil }
        let alloc = try #require(rows.first { $0.operation == "alloc" })
        let nothing = try #require(rows.first { $0.operation == "nothing" })
        let want = 16.0 * 1_048_576
        print("per-call delta: alloc mean \(mib(alloc.memDeltaMeanBytes.map { Double($0) })), max \(mib(alloc.memDeltaMaxBytes.map { Double($0) })); nothing mean \(nothing.memDeltaMeanBytes ?? -1) B")
        #expect(alloc.memDeltaCalls == 8 && nothing.memDeltaCalls == 8 && alloc.calls == 8)
        // The kernel's resident counters are batched per CPU: allow 1 MiB either way.
        #expect(abs(Double(alloc.memDeltaMeanBytes ?? 0) - want) <= 1_048_576)
        #expect(abs(Double(alloc.memDeltaTotalBytes ?? 0) - 8 * want) <= 8 * 1_048_576)
        #expect(abs(nothing.memDeltaMeanBytes ?? .max) <= 1_048_576)
        let table = try daemon.probectl(["stats"])
        #expect(table.stdout.contains("MEMΔ MEAN") && table.stdout.contains("+16.0MiB"))
    }

    @Test func trackMemory_throughTheClientInThisProcess_recordsADeltaPerCall_andFailures() async throws {
        struct Boom: Error {}
        let daemon = try RunningDaemon(["--warmup", "0"])
        let probe = Probe(service: "inproc-memory", socketPath: daemon.socket)
        #expect(probe.measure("load", trackMemory: true) { 6 * 7 } == 42)
        #expect(throws: Boom.self) { try probe.measure("load", trackMemory: true) { throw Boom() } }
        let asyncValue = await probe.measure("load", trackMemory: true) { () async -> Int in 7 }
        #expect(asyncValue == 7)
        probe.measure("untracked") {}
        #expect(probe.flush(timeout: .seconds(10)))
        let rows = try daemon.stats().operations.filter { $0.service == "inproc-memory" && $0.pid != nil }
        let load = try #require(rows.first { $0.operation == "load" })
        #expect(load.calls == 3 && load.errors == 1 && load.memDeltaCalls == 3)
        #expect(rows.first { $0.operation == "untracked" }?.memDeltaCalls == 0)
    }

    @Test(arguments: [["--sample-interval", "soon"], ["--sample-interval", "5ms"], ["--leak-threshold", "much"], ["--leak-window", "1s"]])
    func badMemoryFlags_exitTwo_namingTheFlag(_ arguments: [String]) throws {
        let o = try run(Products.path("probed"), arguments)
        #expect(o.status == 2 && o.stderr.contains(arguments[0]) && o.stderr.contains("usage: probed"))
    }
}

/// The MEMORY message against the real daemon, and a new client against a daemon that predates it.
@Suite(.serialized) struct MemoryProtocolTests {
    @Test func daemon_announcesTheFeature_andRefusesAMemoryRecordForAnUndefinedOperation() throws {
        let daemon = try RunningDaemon()
        let peer = try RawPeer(daemon.socket)
        peer.send(WireEncoder.hello(Hello(pid: UInt32(getpid()), service: "raw-memory")))
        guard case .welcome(let welcome)? = peer.receive() else { throw Failure("no WELCOME") }
        #expect(welcome.features.contains(.memoryDeltas))
        peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "load")))
        peer.send(WireEncoder.memoryDeltas(droppedTotal: 0, records: [MemoryDeltaRecord(operationID: 0, deltaBytes: 4096)]))
        peer.send(WireEncoder.memoryDeltas(droppedTotal: 0, records: [MemoryDeltaRecord(operationID: 9, deltaBytes: 1)]))
        guard case .error(let e)? = peer.receive() else { throw Failure("no ERROR") }
        #expect(e.code == .unknownOperation && e.message.contains("operation id 9"))
        #expect(peer.isClosedByPeer())
        let row = try #require(try daemon.stats().operations.first { $0.service == "raw-memory" && $0.pid != nil })
        #expect(row.memDeltaCalls == 1 && row.memDeltaTotalBytes == 4096)
    }

    @Test func olderDaemon_withoutTheFeature_isSentNoMemoryMessages_andTheDeltasAreCountedAsDropped() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("old-probed.sock")
        let listener = try UnixSocket.listen(path: path)
        defer { close(listener) }
        let received = Locked<[UInt8]>([])
        let served = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { served.signal() }
            var fd: Int32 = -1
            for _ in 0..<1000 where fd < 0 {
                fd = UnixSocket.accept(listener)
                if fd < 0 { usleep(10_000) }
            }
            guard fd >= 0 else { return }
            defer { close(fd) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            UnixSocket.setTimeouts(fd, send: 5_000_000_000, receive: 10_000_000_000)
            var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
            // A first-v1 daemon: WELCOME with bytes 22-23 zero.
            guard buffer.withUnsafeMutableBytes({ UnixSocket.receive(fd, into: $0) }) > 0 else { return }
            UnixSocket.send(fd, WireEncoder.welcome(Welcome(features: [])))
            var accepted: UInt64 = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
                guard n > 0 else { return }
                received.update { $0.append(buffer[0]) }
                if buffer[0] == MessageType.events.rawValue {  // every v1 daemon acknowledges EVENTS
                    accepted += UInt64(buffer[8]) | UInt64(buffer[9]) << 8 | UInt64(buffer[10]) << 16 | UInt64(buffer[11]) << 24
                    UnixSocket.send(fd, WireEncoder.ack(eventsAccepted: accepted))
                }
            }
        }
        do {
            let probe = Probe(service: "new-client", socketPath: path)
            let load = probe.operation("load", trackMemory: true)
            for _ in 0..<10 { load.measure {} }
            #expect(probe.flush(timeout: .seconds(10)))
            #expect(probe.droppedMemoryDeltas == 10 && probe.droppedEvents == 0)
        }  // the probe closes its connection here
        #expect(served.wait(timeout: .now() + 15) == .success)
        let types = received.get()
        #expect(types.contains(MessageType.events.rawValue) && types.contains(MessageType.define.rawValue))
        #expect(!types.contains(MessageType.memoryDeltas.rawValue), "\(types)")
    }
}
