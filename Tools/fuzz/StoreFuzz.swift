// libFuzzer entry for the whole ingest path, as probed runs it: each input is a script of client
// messages on four connections, with the daemon's clock moving, memory and GPU readings and
// resets in between. Every message goes through the wire decoder and the connection checks
// (ClientSession, as IngestServer uses them), its log line is written out, and what passes is
// applied to a real Store. Then every report is rendered — stats in every window, status, procs,
// gpu, slow, errors, the Prometheus exposition — and probectl's tables are drawn from the JSON.
// Built by Tools/fuzz.sh into the ProbeDaemon module (so it reaches the daemon's internals).
//
// Properties checked (a failure is a crash, kept by libFuzzer): nothing traps; every report is
// JSON that probectl's report types decode; each stats row is consistent (warm-up, errors and
// counted calls within calls, min ≤ mean ≤ max, quantiles ascending and within min...max, the
// error types sum to the errors, a merged row's counts are its processes' and retired row's sums);
// every metrics sample's value is a number; retiring the processes gone (every time the clock
// moves, as probed's state keeper does each second; retention 2 s) changes no merged row; and the
// store saved to a state file and restored reads the same merged rows.
//
// Script (all integers little-endian), after one byte of settings (warm-up 0...15):
//   op & 7 == 0  a message with a correct header: type byte, u16 payload length, payload
//   op & 7 == 1  a raw packet: u24 length, bytes (header and all)
//   op & 7 == 2  the clock moves: u16 × 10 ms
//   op & 7 == 3  the connection closes (a fresh one takes its place)
//   op & 7 == 4  a memory sampling round: per connected client, a flag byte and four u64
//   op & 7 == 5  an NVML round: per connected client, a flag byte and a u64 of device memory
//   op & 7 == 6  probectl reset
//   op & 7 == 7  every report, now, stats in one window (a byte picks it); at the end, in all
// The connection is (op >> 3) & 3; connections 0 and 3 share a pid (a process that reconnected).

import Foundation
import ProbeCLI
import ProbeControl
import ProbeStatistics
import ProbeWire

@_cdecl("LLVMFuzzerTestOneInput")
public func storeFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    StoreFuzz.run(input)
    return 0
}

enum StoreFuzz {
    struct Reader {
        let bytes: [UInt8]
        var at = 0
        mutating func byte() -> UInt8? {
            guard at < bytes.count else { return nil }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func u16() -> Int { Int(byte() ?? 0) | Int(byte() ?? 0) << 8 }
        mutating func u64() -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(byte() ?? 0) << (8 * $1) } }
        mutating func take(_ n: Int) -> [UInt8] {
            let end = min(bytes.count, at + n)
            defer { at = end }
            return Array(bytes[at..<end])
        }
    }

    struct Connection {
        var id: ConnectionID
        var session = ClientSession()
        var open = true
    }

    static func run(_ input: [UInt8]) {
        let warmup = Int((input.first ?? 10) % 16)
        let clock = ManualClock()
        var memory = MemoryOptions()
        memory.exitedRetention = 2_000_000_000
        let configuration = Store.Configuration(warmup: warmup, memory: memory, maxSeries: 48)
        let store = Store(configuration: configuration, clock: clock)
        store.blocking { store in
            var reader = Reader(bytes: input, at: 1)
            await script(&reader, store: store, clock: clock)
            await renderEverything(store, windows: StatsWindow.allCases)
            // What the store holds, through a state file into another store.
            guard let image = try? StateFile.decode(StateFile.encode(await store.stateImage())) else {
                preconditionFailure("a state file the store wrote does not decode")
            }
            let restored = Store(configuration: configuration, clock: ManualClock(clock.now()))
            await restored.restore(image)
            let (saved, back) = (await mergedFigures(store), await mergedFigures(restored))
            precondition(saved == back, "restored merged rows differ:\n\(saved)\n\(back)")
            await renderEverything(restored, windows: [.all])
        }
    }

    /// The merged rows (window `all`) as text: every figure but the rates and GPU warnings
    /// (which follow the moment, and NVML's rounds); error types by their total.
    static func mergedFigures(_ store: Store) async -> [String] {
        let report = decoded(StatsReport.self, StatsJSON.render(await store.statsSnapshot(window: .all)))
        return report.operations.filter { $0.merged ?? ($0.pid == nil) }.map { r in
            let figures: [Any?] = [r.service, r.operation, r.calls, r.errors, r.warmup, r.counted, r.minNs, r.meanNs, r.p50Ns, r.p90Ns,
                                   r.p99Ns, r.p999Ns, r.maxNs, r.errorTypes.values.saturatingSum(), r.processes, r.spanNs, r.lifetimeP99Ns,
                                   r.memDeltaCalls, r.memDeltaMeanBytes, r.memDeltaMaxBytes, r.memDeltaTotalBytes, r.synchronizedCalls,
                                   r.deviceSynchronized, r.items, r.lifetimeCalls, r.meanPerItemNs, r.slowCalls,
                                   r.warnings?.filter { $0.hasPrefix("warm-up") }]
            return figures.map { $0.map { "\($0)" } ?? "nil" }.joined(separator: " ")
        }
    }

    static func pid(_ k: Int) -> Int32 { 100 + Int32(k % 3) }

    static func script(_ reader: inout Reader, store: Store, clock: ManualClock) async {
        var connections = (0..<4).map { Connection(id: ConnectionID($0 + 1)) }
        var nextID: ConnectionID = 5
        var steps = 0
        func close(_ k: Int, rejected: Bool) async {
            if rejected { await store.apply(.rejected(connections[k].id)) }
            if connections[k].session.role == .client { await store.apply(.disconnected(connections[k].id)) }
            connections[k] = Connection(id: nextID)
            nextID += 1
        }
        while let op = reader.byte(), steps < 4096 {
            steps += 1
            let k = Int(op >> 3) & 3
            switch op & 7 {
            case 0, 1:
                var packet: [UInt8]
                if op & 7 == 0 {
                    let type = reader.byte() ?? 0
                    let payload = reader.take(min(reader.u16(), WireProtocol.maxMessageBytes - WireProtocol.headerSize))
                    let length = UInt32(WireProtocol.headerSize + payload.count)
                    packet = [type, UInt8(WireProtocol.version), 0, 0] + withUnsafeBytes(of: length.littleEndian, Array.init) + payload
                } else {
                    // Up to one byte past the largest message: the decoder refuses it as probed does.
                    packet = reader.take(min(reader.u16() | Int(reader.byte() ?? 0) << 16, WireProtocol.maxMessageBytes + 1))
                }
                guard connections[k].open else { continue }
                let accepted: ClientSession.Accepted
                do {
                    accepted = try connections[k].session.accept(try WireDecoder.decode(packet))
                } catch {
                    _ = "\(error)"  // the log line of the refusal
                    await close(k, rejected: true)
                    continue
                }
                if case .controlRequest = accepted {
                    connections[k].open = false  // a control session from now on: not this harness's
                    continue
                }
                for item in accepted.storeItems(connection: connections[k].id, pid: pid(k), uid: 0, bytes: packet.count) {
                    await store.apply(item)
                }
                if case .callDetail(let d, let operation, let errorType) = accepted {
                    let entry = CallEntry(sequence: 0, service: connections[k].session.service, pid: pid(k),
                                          operation: operation, detail: d, errorType: errorType)
                    precondition(!entry.logLine.isEmpty)
                }
            case 2:
                clock.advance(by: UInt64(reader.u16()) * 10_000_000)
                let before = await mergedFigures(store)
                await store.retireExited()
                let after = await mergedFigures(store)
                precondition(before == after, "retirement changed merged rows:\n\(before)\n\(after)")
            case 3:
                await close(k, rejected: false)
            case 4:
                let targets = await store.memoryTargets()
                var readings: [(ConnectionID, ProcStatus?)] = []
                for (id, _) in targets {
                    let flag = reader.byte() ?? 0
                    let figures = (reader.u64(), reader.u64(), reader.u64(), reader.u64())
                    readings.append((id, flag & 1 == 0 ? nil : ProcStatus(
                        rssBytes: figures.0, peakBytes: figures.1, anonBytes: flag & 2 == 0 ? nil : figures.2,
                        swapBytes: flag & 4 == 0 ? nil : figures.3)))
                }
                _ = await store.recordMemorySamples(readings)
            case 5:
                await store.recordGPULoaded(GPULibrary(path: "fuzz", processesFunction: "fuzz"))
                var device = GPUDevice(index: 0)
                var processes: [GPUProcess] = []
                for (k, c) in connections.enumerated() where c.session.role == .client {
                    let flag = reader.byte() ?? 0
                    let bytes = reader.u64()
                    if flag & 1 == 1 { processes.append(GPUProcess(pid: pid(k), usedBytes: flag & 2 == 0 ? bytes : nil)) }
                    device.memoryUsedBytes = bytes
                }
                device.processes = processes
                _ = await store.recordGPU(GPUSnapshot(devices: [device]))
            case 6:
                _ = await store.resetStatistics()
            default:
                let all = StatsWindow.allCases
                await renderEverything(store, windows: [all[Int(reader.byte() ?? 0) % all.count]])
            }
        }
    }

    static func decoded<T: Decodable>(_ type: T.Type, _ text: String) -> T {
        precondition((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil, "not JSON: \(text)")
        do {
            return try JSONDecoder.snakeCase.decode(type, from: Data(text.utf8))
        } catch {
            preconditionFailure("probectl cannot read \(type): \(error)\n\(text)")
        }
    }

    /// Every report (stats in `windows`), checked, and probectl's tables drawn from them.
    static func renderEverything(_ store: Store, windows: [StatsWindow]) async {
        var procs: ProcsReport? = nil
        let procsText = ProcsJSON.render(await store.procsSnapshot())
        procs = decoded(ProcsReport.self, procsText)
        _ = CLI.render(procs: procs!)
        for window in windows {
            let report = decoded(StatsReport.self, StatsJSON.render(await store.statsSnapshot(window: window)))
            check(report)
            _ = CLI.render(stats: report)
            _ = Top.render(stats: report, procs: procs, sort: .p99, width: 100, height: 30, title: "fuzz")
        }
        _ = CLI.render(status: decoded(StatusReport.self, StatusJSON.render(await store.statusSnapshot(), pid: 1)))
        _ = CLI.render(gpu: decoded(GPUReport.self, GPUJSON.render(await store.gpuSnapshot())))
        _ = CLI.render(slow: decoded(SlowCallsReport.self, CallsJSON.slow(await store.slowCallsSnapshot(operation: nil))))
        _ = CLI.render(errors: decoded(ErrorsReport.self, CallsJSON.errors(await store.errorsSnapshot(operation: nil))))
        let metrics = PrometheusExposition.render(await store.metricsSnapshot())
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            let value = line[line.index(after: line.lastIndex(of: " ")!)...]
            precondition(Double(value) != nil || value == "+Inf" || value == "NaN", "metrics sample is not a number: \(line)")
        }
    }

    /// Consistency of one stats report.
    static func check(_ report: StatsReport) {
        for r in report.operations {
            precondition(r.warmup <= r.calls && r.errors <= r.calls && r.counted <= r.calls, "counts: \(r)")
            precondition(r.errorTypes.values.saturatingSum() == r.errors, "error types do not sum to the errors: \(r)")
            guard r.counted > 0 else {
                precondition(r.minNs == nil && r.meanNs == nil && r.p50Ns == nil, "figures without counted calls: \(r)")
                continue
            }
            let quantiles = [r.minNs, r.p50Ns, r.p90Ns, r.p99Ns, r.p999Ns, r.maxNs].map { $0! }
            precondition(zip(quantiles, quantiles.dropFirst()).allSatisfy { $0 <= $1 }, "quantiles out of order: \(r)")
            precondition(r.minNs! <= r.meanNs! && r.meanNs! <= r.maxNs!, "mean outside min...max: \(r)")
        }
        for merged in report.operations where merged.merged ?? (merged.pid == nil) {
            // Its processes' rows and its retired row.
            let members = report.operations.filter { $0.merged != true && $0.service == merged.service && $0.operation == merged.operation }
            precondition(merged.calls == members.map(\.calls).saturatingSum() && merged.counted == members.map(\.counted).saturatingSum()
                         && merged.warmup == members.map(\.warmup).saturatingSum(), "merged row is not the sum of its processes: \(merged)")
        }
    }
}
