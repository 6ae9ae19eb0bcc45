import Foundation
import ProbeControl
import ProbeStatistics
import ProbeTestKit
import ProbeWire
import Testing
@testable import ProbeDaemon

@Suite struct CRC32CTests {
    @Test func knownVectors_matchTheStandardCRC32C() {
        // RFC 3720 (iSCSI) appendix B.4, and the check value of the catalogue of CRCs.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func checksumInPieces_equalsTheWhole() {
        var r = SeededRandom(seed: 7)
        let bytes = (0..<1_001).map { _ in UInt8(truncatingIfNeeded: r.next()) }
        for cut in [0, 1, 7, 8, 9, 500, 1_001] {
            #expect(CRC32C.checksum(Array(bytes[cut...]), continuing: CRC32C.checksum(Array(bytes[..<cut]))) == CRC32C.checksum(bytes))
        }
    }
}

/// A store with everything a state keeps: processes live and gone, retired aggregates, error
/// types, items, memory deltas, slow and failed calls (more than a log keeps), memory and GPU
/// histories of a connected process.
func richStore(clock: ManualClock, retention: UInt64 = 30_000_000_000) async -> Store {
    var options = MemoryOptions()
    options.exitedRetention = retention
    let store = Store(configuration: .init(warmup: 3, memory: options), clock: clock)
    await StoreLifecycleTests.churn(store, clock)
    clock.advance(by: retention + 1_000_000_000)
    await store.retireExited()
    let live = FakeProcess(id: 9, pid: 109, seed: 9)
    await live.connect(store)
    var r = SeededRandom(seed: 99)
    for _ in 0..<70 {
        await live.batch(store, &r, calls: 5)
        _ = await store.recordMemorySamples([(9, ProcStatus(rssBytes: 100 << 20 + r.next() % (1 << 20), peakBytes: 120 << 20, anonBytes: 50 << 20, swapBytes: 0))])
        var device = GPUDevice(index: 0)
        device.processes = [GPUProcess(pid: 109, usedBytes: 1 << 30)]
        _ = await store.recordGPU(GPUSnapshot(devices: [device]))
        clock.advance(by: 500_000_000)
    }
    return store
}

extension Store {
    /// Every stats row of every window, less what moves with the moment a report is asked for
    /// (a restored process is not connected until it comes back: rates over its whole window).
    nonisolated func comparableRows() async throws -> [String: [[String: AnyHashable]]] {
        var out: [String: [[String: AnyHashable]]] = [:]
        for w in StatsWindow.allCases {
            out[w.rawValue] = try await rows(w).map { $0.filter { !StateFileTests.moving.contains($0.key) } }
        }
        return out
    }

    nonisolated func comparableProcs() async throws -> [[String: AnyHashable]] {
        let json = try JSONSerialization.jsonObject(with: Data(await procsJSON().utf8)) as! [String: Any]
        return (json["processes"] as! [[String: Any]]).map { row in
            row.mapValues(hashable).filter { !["state", "exited_ago_ns"].contains($0.key) }
        }
    }
}

extension Store {
    func warmupUntracked(of key: SeriesKey) -> UInt64? { series[key]?.warmupUntracked }
}

@Suite struct StateFileTests {
    /// Each series record of `image` as the file encodes it, by key.
    static func seriesBytes(_ image: StateImage) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for r in image.series {
            var w = StateWriter()
            StateFile.encode(r, into: &w)
            out["\(r.service)/\(r.pid)/\(r.operation)"] = w.bytes
        }
        return out
    }

    /// What moves with the moment a report is asked for, or is read afresh after a restart: a
    /// restored process is not connected until it comes back (rates over its whole window), and
    /// GPU warnings come from NVML's next round.
    static let moving: Set<String> = ["rate_per_s", "span_ns", "items_per_s", "warnings"]

    @Test func aStoreSavedAndRestored_readsTheSame_andAgesTheSame() async throws {
        let clock = ManualClock(1_700_000_000_000_000_000)
        let store = await richStore(clock: clock)
        let image = await store.stateImage()
        let bytes = StateFile.encode(image)
        let decoded = try StateFile.decode(bytes)
        #expect(StateFile.encode(decoded) == bytes)

        let clock2 = ManualClock(clock.now())
        let restored = Store(configuration: .init(warmup: 3), clock: clock2)
        let summary = await restored.restore(decoded)
        #expect(summary.shiftSeconds == 0 && summary.series == 3 && summary.retiredSeries == 2 && summary.connections == 2)
        let d = differences(try await store.comparableRows(), try await restored.comparableRows())
        #expect(d.isEmpty, "\(d.prefix(10))")
        // Every series field, as the file holds it: flags, error types with their slots, weights
        // and other, warm-up calls (per items value, and those past the values tracked), items
        // and memory deltas with their 128-bit sums, every window slice, the lifetime histogram.
        let (saved, again) = (Self.seriesBytes(await store.stateImage()), Self.seriesBytes(await restored.stateImage()))  // both touched alike above
        let differing = saved.keys.filter { again[$0] != saved[$0] }.sorted().map { key in
            "\(key) from byte \(Array(zip(saved[key]!, again[key] ?? [])).firstIndex { $0.0 != $0.1 } ?? min(saved[key]!.count, again[key]?.count ?? 0))"
        }
        #expect(saved.keys.sorted() == again.keys.sorted() && differing.isEmpty, "\(differing)")
        let records = image.series
        #expect(records.contains { $0.flags.contains(.noDeviceWork) } && records.contains { $0.flags.contains(.warmupPerItems) })
        #expect(records.contains { !$0.warmupCalls.byItems.isEmpty && $0.warmupCalls.untrackedCalls > 0 })
        #expect(records.contains { !$0.warmupCalls.whole.calls.isEmpty && $0.warmupCalls.whole.full })
        #expect(records.contains { $0.memory.totalBytes > Int128(UInt64.max) && $0.items.parts.countedNanoseconds > UInt128(UInt64.max) })
        #expect(records.contains { $0.windows.lifetimeLatency.sum > UInt128(UInt64.max) && $0.errorTypes.names.count >= 5 })
        #expect(await restored.flags(of: .retired(service: "svc", operation: "predict")) == [])
        #expect(await restored.warmupUntracked(of: .retired(service: "svc", operation: "embed")) ?? 0 > 0)
        #expect(await restored.slowJSON(operation: nil) == store.slowJSON(operation: nil))
        #expect(await restored.errorsJSON(operation: nil) == store.errorsJSON(operation: nil))
        #expect(try await restored.comparableProcs() == store.comparableProcs())
        // Per-process metrics are for connected processes: the restored ones join when they come back.
        let daemonWide = { (lines: [Substring]) in lines.filter { !$0.hasPrefix("probe_process_") && !$0.hasPrefix("probed_connected_processes ") } }
        let (m1, m2) = (daemonWide(await store.exposition()), daemonWide(await restored.exposition()))
        let metricsDiff = Set(m1).symmetricDifference(m2).sorted().prefix(8)
        #expect(m1 == m2, "\(metricsDiff)")
        let (before, after) = (try await store.status(), try await restored.status())
        #expect(after.eventsReceived == before.eventsReceived && after.droppedEvents == before.droppedEvents)
        #expect(after.retiredProcesses == before.retiredProcesses && after.series == before.series)
        #expect(after.processes.map(\.state) == ["restored", "restored"])

        // Time goes on for both: their windows age alike.
        for step: UInt64 in [1, 9, 50, 240, 700] {
            clock.advance(by: step * 1_000_000_000)
            clock2.advance(by: step * 1_000_000_000)
            let d = differences(try await store.comparableRows(), try await restored.comparableRows())
            #expect(d.isEmpty, "after \(step) s more: \(d.prefix(10))")
        }
    }

    @Test func aProcessThatComesBack_continuesItsSeriesAndItsMemoryHistory() async throws {
        let clock = ManualClock(1_700_000_000_000_000_000)
        let store = await richStore(clock: clock)
        let image = try StateFile.decode(StateFile.encode(await store.stateImage()))
        let restored = Store(configuration: .init(warmup: 3), clock: ManualClock(clock.now()))
        await restored.restore(image)
        let before = try #require(try await restored.stats().operations.first { $0.pid == 109 && $0.operation == "predict" })
        let live = FakeProcess(id: 1, pid: 109, seed: 9)
        await live.connect(restored)
        var r = SeededRandom(seed: 5)
        await live.batch(restored, &r, calls: 10)
        let after = try #require(try await restored.stats().operations.first { $0.pid == 109 && $0.operation == "predict" })
        #expect(after.calls == before.calls + 10 && after.warmup == before.warmup)
        let status = try await restored.status()
        #expect(status.processes.map(\.state) == ["restored", "connected"] && status.processes[1].pid == 109)
        let procs = try await restored.comparableProcs()
        #expect(procs.count == 2 && procs.first { $0["pid"] == AnyHashable(109) }?["samples"] == AnyHashable(70))
    }

    @Test func afterAReboot_theImagesProcessesRetireAtOnce() async throws {
        let clock = ManualClock(1_700_000_000_000_000_000)
        let store = await richStore(clock: clock)
        let image = try StateFile.decode(StateFile.encode(await store.stateImage()))
        let restored = Store(configuration: .init(warmup: 3), clock: ManualClock(clock.now()))
        let summary = await restored.restore(image, sameBoot: false)
        #expect(summary.earlierBoot)
        let status = try await restored.status()
        #expect(status.series == status.retiredSeries && status.retiredProcesses == 4)
        let d = differences(try await store.mergedRows(), try await restored.mergedRows(), ignoring: StateFileTests.moving.union(["retired_processes"]))
        #expect(d.isEmpty, "\(d.prefix(10))")
    }

    @Test func aClockThatMoved_movesTheWindowsInWholeMinutes() async throws {
        let clock = ManualClock(1_700_000_000_000_000_000)
        let store = await richStore(clock: clock)
        let image = try StateFile.decode(StateFile.encode(await store.stateImage()))
        // The new daemon's clock reads 2 h 10 s less than the old one did (a clock not anchored
        // to the wall): the windows keep their place relative to now.
        let clock2 = ManualClock(clock.now() - 7_210_000_000_000)
        let restored = Store(configuration: .init(warmup: 3), clock: clock2)
        let summary = await restored.restore(image)
        #expect(summary.shiftSeconds == -7_200)
        let rows = try await restored.comparableRows()["15m"]?.filter { $0["merged"] == AnyHashable(true) }
        let original = try await store.comparableRows()["15m"]?.filter { $0["merged"] == AnyHashable(true) }
        #expect(rows?.map { $0["calls"] } == original?.map { $0["calls"] })
        // Far behind (CLOCK_MONOTONIC 30 s after a reboot): what is older than the clock's zero
        // leaves the windows, the lifetime stays whole.
        let restored2 = Store(configuration: .init(warmup: 3), clock: ManualClock(30_000_000_000))
        await restored2.restore(image)
        let (early, original2) = (try await restored2.mergedRows(), try await store.mergedRows())
        #expect(early["all"]?.map { $0["calls"] } == original2["all"]?.map { $0["calls"] })
        let calls = { (rows: [[String: AnyHashable]]?) in (rows ?? []).map { ($0["calls"] as? NSNumber)?.intValue ?? 0 }.reduce(0, +) }
        #expect(calls(early["15m"]) > 0 && calls(early["15m"]) < calls(original2["15m"]))
    }

    // MARK: What is refused, and why

    static func validFile() async -> [UInt8] {
        let clock = ManualClock(1_700_000_000_000_000_000)
        return StateFile.encode(await richStore(clock: clock).stateImage())
    }

    @Test func badFiles_areRefusedWithTheirReason() async throws {
        let file = await Self.validFile()
        func code(_ bytes: [UInt8]) -> StateFileError.Code? {
            do {
                _ = try StateFile.decode(bytes)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code([]) == .empty)
        #expect(code(Array("not a state".utf8)) == .notStateFile)
        for cut in [1, 8, 31, 32, 33, file.count / 2, file.count - 1] { #expect(code(Array(file[..<cut])) == .truncated, "cut at \(cut)") }
        var flipped = file
        flipped[file.count / 2] ^= 0x10
        #expect(code(flipped) == .checksum)
        var header = file
        header[20] ^= 1
        #expect(code(header) == .checksum)
        #expect(code(file + [0]) == .corrupt)
        let future = StateFile.file(body: Array(file[StateFile.headerBytes...]), version: 2)
        #expect(code(future) == .newerVersion)
        let error = try #require(throws: StateFileError.self) { try StateFile.decode(future) }
        #expect(error.description == "format version 2, newer than this probed's 1 (written by a newer probed)")
    }

    @Test func aBodyWhoseChecksumHolds_butWhoseFiguresCannot_isCorrupt() async throws {
        var image = try StateFile.decode(await Self.validFile())
        image.series[0].errors = image.series[0].calls + 1
        let error = try #require(throws: StateFileError.self) { try StateFile.decode(StateFile.encode(image)) }
        #expect(error.code == .corrupt && error.description.contains("errors"))
    }

    @Test func mutatedBodies_giveAStateOrAnError_neverATrap() async throws {
        // Some hundreds of what Tools/fuzz.sh state does for minutes: bytes changed, cut, or
        // inserted behind a valid header, then every decoded value read.
        let body = Array(await Self.validFile()[StateFile.headerBytes...])
        var r = SeededRandom(seed: 2026)
        var decoded = 0
        for _ in 0..<200 {
            var b = body
            for _ in 0..<(1 + Int(r.next() % 4)) {
                let at = Int(r.next() % UInt64(b.count))
                switch r.next() % 4 {
                case 0: b[at] = UInt8(truncatingIfNeeded: r.next())
                case 1: b[at] ^= UInt8(1) << (r.next() % 8)
                case 2: b.removeSubrange(at..<min(b.count, at + Int(r.next() % 8) + 1))
                default: b.insert(UInt8(truncatingIfNeeded: r.next()), at: at)
                }
                if b.isEmpty { b = [0] }
            }
            guard let image = try? StateFile.decode(StateFile.file(body: b)) else { continue }
            decoded += 1
            let restored = Store(configuration: .init(warmup: 3), clock: ManualClock(image.clockNow))
            await restored.restore(image)
            _ = await restored.statsJSON(window: .fiveMinutes)
            _ = await restored.statsJSON(window: .all)
            _ = await restored.procsJSON()
            _ = await restored.errorsJSON(operation: nil)
            _ = await PrometheusExposition.render(restored.metricsSnapshot())
        }
        print("mutated state bodies: \(decoded) of 200 still decoded (and were read), the rest refused")
    }

    // MARK: Files

    /// The keeper waits on the store (`Store.blocking`) as its thread does: from threads of their
    /// own here (see `onOwnThread`).
    @Test func keeper_savesAtomically_loadsBack_andMovesABadFileAside() async throws {
        let dir = NSTemporaryDirectory() + "probe-state-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualClock(1_700_000_000_000_000_000)
        let store = await richStore(clock: clock)
        let keeper = StateKeeper(store: store, directory: dir + "/nested", interval: 60_000_000_000, log: Log(level: .error),
                                 thresholds: { ["predict": 50_000_000] })
        #expect(try await onOwnThread { keeper.save() })
        let path = dir + "/nested/state"
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        #expect(try await store.status().stateSavedAgoNs == 0)

        let fresh = Store(configuration: .init(warmup: 3), clock: ManualClock(clock.now()))
        let loader = StateKeeper(store: fresh, directory: dir + "/nested", interval: 60_000_000_000, log: Log(level: .error), thresholds: { [:] })
        #expect(try await onOwnThread { loader.load() } == [StateImage.Threshold(operation: "predict", nanoseconds: 50_000_000)])
        #expect(differences(try await fresh.comparableRows(), try await store.comparableRows()).isEmpty)

        // A damaged file: refused, moved aside, and the next start finds none.
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let empty = Store(configuration: .init(warmup: 3), clock: ManualClock(clock.now()))
        let refuser = StateKeeper(store: empty, directory: dir + "/nested", interval: 1, log: Log(level: .error), thresholds: { [:] })
        #expect(try await onOwnThread { refuser.load() }.isEmpty)
        #expect(try await empty.status().series == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/nested")
        #expect(names.count == 1 && names[0].hasPrefix("state.bad-") && names[0].hasSuffix("Z"))
    }
}
