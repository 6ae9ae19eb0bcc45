import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Testing
@testable import ProbeDaemon

/// Issue 17 item 6: an operation that declares it does no device work is never warned about, and
/// the warning that remains says how to silence it where it is wrong.
@Suite struct StoreDeviceWorkTests {
    @Test func aCPUOnlyOperationOfAGPUProcess_declaredInDefine_isNeverWarned_andTheOtherWarningSaysHow() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.apply(.connected(1, pid: 100, uid: 0))
        await store.apply(.hello(1, service: "svc"))
        await store.apply(.define(1, Definition(id: 0, kind: .operation, name: "tokenize", flags: .noDeviceWork)))
        await store.apply(.define(1, Definition(id: 1, kind: .operation, name: "predict")))
        await store.record(1, operation: 0, durations: [1_000_000, 1_000_000])
        await store.record(1, operation: 1, durations: [2_000_000])
        // The process holds 5 GiB of device memory, as on the H200 where the issue was seen.
        var device = GPUDevice(index: 0)
        device.processes = [GPUProcess(pid: 100, usedBytes: 5 << 30)]
        _ = await store.recordGPU(GPUSnapshot(devices: [device]))
        let rows = try await store.stats().operations
        let tokenize = try #require(rows.first { $0.operation == "tokenize" && $0.pid == 100 })
        let predict = try #require(rows.first { $0.operation == "predict" && $0.pid == 100 })
        #expect(tokenize.warnings == [] && tokenize.deviceSynchronized == false)
        #expect(predict.warnings?.count == 1)
        let warning = try #require(predict.warnings?.first)
        #expect(warning.contains("holds 5120.0 MiB") && warning.contains("deviceWork: false") && warning.contains("device_work=False"))
        // A later DEFINE withdrawing the declaration brings the warning back.
        await store.apply(.define(1, Definition(id: 0, kind: .operation, name: "tokenize")))
        let again = try #require(try await store.stats().operations.first { $0.operation == "tokenize" && $0.pid == 100 })
        #expect(again.warnings?.count == 1)
    }

    @Test func warmupPerItems_pastTheTrackedValues_isSaidInTheWarnings() async throws {
        let store = Store(configuration: .init(warmup: 1), clock: ManualClock())
        await store.apply(.connected(1, pid: 100, uid: 0))
        await store.apply(.hello(1, service: "svc"))
        await store.apply(.define(1, Definition(id: 0, kind: .operation, name: "predict", flags: .warmupPerItems)))
        let values = WarmupFilter.maxItemsValues + 3
        let records = (0..<values).map { EventRecord(operationID: 0, startNanoseconds: UInt64($0), durationNanoseconds: 10, items: UInt32($0 + 1)) }
        await store.apply(.events(1, droppedTotal: 0, records: records, bytes: 0))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(row.warmup == UInt64(WarmupFilter.maxItemsValues) && row.counted == 3)
        #expect(row.warnings?.contains { $0.contains("3 calls had an items value past the first 64") } == true, "\(row.warnings ?? [])")
    }
}
