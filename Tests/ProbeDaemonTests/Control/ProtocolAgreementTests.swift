import Foundation
import ProbeControl
@testable import ProbePosix
import ProbeStatistics
import ProbeWire
import ProbeTestKit
import Testing
@testable import ProbeDaemon

/// PROTOCOL.md and probed agree (issue 17, "the protocol document against an independent
/// client"): every key of every control answer probed renders, and every command it knows, is in
/// the document's §6 "Control commands"; so a key added to a report without its documentation
/// fails here.
@Suite struct ProtocolAgreementTests {
    static let document: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Protocol/PROTOCOL.md")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// The document's control command reference: from "**Control commands.**" to §7.
    static var controlSection: String {
        let d = document
        guard let start = d.range(of: "**Control commands.**"), let end = d.range(of: "## 7. Limits") else { return "" }
        return String(d[start.lowerBound..<end.lowerBound])
    }

    /// Every key of `json`'s objects, except inside the maps whose keys users choose.
    static func keys(_ json: Any, into out: inout Set<String>) {
        if let object = json as? [String: Any] {
            for (k, v) in object {
                out.insert(k)
                if ["error_types", "attributes", "errors"].contains(k), v is [String: Any] { continue }
                keys(v, into: &out)
            }
        } else if let array = json as? [Any] {
            for v in array { keys(v, into: &out) }
        }
    }

    /// A store with something in every report.
    static func busyStore() async -> Store {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 1), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        await store.apply(.define(1, Definition(id: 1, kind: .errorType, name: "Timeout")))
        await store.record(1, durations: [5, 1_000, 2_000])
        await store.apply(.events(1, droppedTotal: 1, records: [
            EventRecord(operationID: 0, flags: .failed, startNanoseconds: 9, durationNanoseconds: 7, errorTypeID: 1),
        ], bytes: 56))
        await store.apply(.memoryDeltas(1, droppedTotal: 0, records: [MemoryDeltaRecord(operationID: 0, deltaBytes: 4096)], bytes: 40))
        for flags in [CallDetail.Flags.slow, .failed] {
            let d = CallDetail(operationID: 0, flags: flags, startNanoseconds: 1, startWallNanoseconds: 2, durationNanoseconds: 3,
                               errorTypeID: flags == .failed ? 1 : 0, errorDescription: "x", attributes: [.init("batch", "8")])
            await store.apply(.callDetail(1, d, operation: "predict", errorType: flags == .failed ? "Timeout" : nil, bytes: 60))
        }
        for _ in 0..<3 {
            clock.advance(seconds: 1)
            _ = await store.recordMemorySamples([(1, ProcStatus(rssBytes: 1 << 30, peakBytes: 1 << 31, anonBytes: 1 << 20, swapBytes: 0))])
        }
        await store.recordGPULoaded(GPULibrary(path: "libnvidia-ml.so.1", driverVersion: "580.65.06", processesFunction: "nvmlDeviceGetComputeRunningProcesses_v3"))
        var device = GPUDevice(index: 0)
        device.name = "GPU"
        device.processes = [GPUProcess(pid: 100, usedBytes: 1 << 30)]
        _ = await store.recordGPU(GPUSnapshot(devices: [device]))
        return store
    }

    @Test func everyKeyOfEveryAnswer_isInTheDocumentsControlCommands() async throws {
        let section = ProtocolAgreementTests.controlSection
        #expect(!section.isEmpty, "PROTOCOL.md has no **Control commands.** paragraph before §7")
        let store = await ProtocolAgreementTests.busyStore()
        let server = ControlServer(store: store, log: Log())
        // answer() waits on the store as the control thread does: from a thread of its own.
        let answered = try await onOwnThread {
            [server.answer("{\"command\":\"ping\"}", peer: PeerCredentials(pid: 1, uid: 0, gid: 0)),
             server.answer("{\"command\":\"reset\"}", peer: PeerCredentials(pid: 1, uid: 0, gid: 0), mayChangeState: true)]
        }
        let answers = [
            await store.statsJSON(window: .oneMinute), await store.statusJSON(pid: 1), await store.procsJSON(), await store.gpuJSON(),
            await store.slowJSON(operation: nil), await store.errorsJSON(operation: nil), server.thresholdsJSON(),
        ] + answered + [ControlServer.errorJSON("x")]
        var all = Set<String>()
        for text in answers { ProtocolAgreementTests.keys(try JSONSerialization.jsonObject(with: Data(text.utf8)), into: &all) }
        #expect(all.count > 100)
        let missing = all.filter { !section.contains("`\($0)`") && !section.contains("\"\($0)\"") }.sorted()
        #expect(missing.isEmpty, "keys probed sends that PROTOCOL.md §6 does not name: \(missing)")
    }

    @Test func everyCommandProbedKnows_isInTheDocumentsTable() async throws {
        let server = ControlServer(store: Store(), log: Log())
        let answer = try await onOwnThread { server.answer("{\"command\":\"no-such-command\"}", peer: PeerCredentials(pid: 1, uid: 0, gid: 0)) }
        let known = answer.components(separatedBy: "knows ").last?.split(separator: "\"").first ?? ""
        let commands = known.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(commands.count >= 10, "\(answer)")
        for c in commands { #expect(ProtocolAgreementTests.controlSection.contains("| `\(c)` |"), "command \(c) is not in PROTOCOL.md's table") }
    }

    @Test func theDocumentsSocketModeAndFeatures_areProbedsOwn() {
        let d = ProtocolAgreementTests.document
        #expect(d.contains("mode `0600` (owner only), or `0660`"))
        #expect(d.contains("The reference daemon sets all three (`features` \(DaemonFeatures.all.rawValue))"))
        #expect(d.contains("**nearest-rank** percentiles"))
    }
}
