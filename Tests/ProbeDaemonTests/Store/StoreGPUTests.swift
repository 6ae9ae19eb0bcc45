import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Testing
@testable import ProbeDaemon

extension Store {
    func gpuReport() throws -> GPUReport {
        try JSONDecoder.snakeCaseForTests.decode(GPUReport.self, from: Data(gpuJSON().utf8))
    }

    func recordSynchronized(_ id: ConnectionID, operation: UInt32 = 0, count: Int) {
        let records = (0..<count).map { _ in
            EventRecord(operationID: operation, flags: .deviceSynchronized, startNanoseconds: 0, durationNanoseconds: 1_000)
        }
        apply(.events(id, droppedTotal: 0, records: records, bytes: 0))
    }
}

@Suite struct StoreGPUTests {
    static let MiB: UInt64 = 1 << 20

    static func device(_ index: Int, processes: [GPUProcess]?) -> GPUDevice {
        var d = GPUDevice(index: index)
        d.name = "GPU \(index)"
        d.uuid = "GPU-\(index)"
        d.memoryTotalBytes = 80 * 1024 * MiB
        d.memoryUsedBytes = 2 * 1024 * MiB
        d.memoryFreeBytes = 78 * 1024 * MiB
        d.utilizationGPUPercent = 50
        d.utilizationMemoryPercent = 20
        d.temperatureCelsius = 60
        d.powerMilliwatts = 250_500
        d.processes = processes
        return d
    }

    @Test func beforeAnySampler_gpuSaysWhyItHasNoFigures() async throws {
        let report = try await Store().gpuReport()
        #expect(!report.available && report.reason != nil && report.devices.isEmpty)
    }

    @Test func unavailableNVML_reportsTheReason() async throws {
        let store = Store()
        await store.recordGPUUnavailable(reason: "cannot load NVML from x: not found")
        let report = try await store.gpuReport()
        #expect(!report.available && report.reason == "cannot load NVML from x: not found")
    }

    @Test func processes_areAttributedToClientsByPid_andSummedAcrossDevices() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "ranker", operations: ["predict"])
        await store.recordGPULoaded(GPULibrary(path: "libfake.so", processesFunction: "nvmlDeviceGetComputeRunningProcesses_v3"))
        _ = await store.recordGPU(GPUSnapshot(devices: [
            Self.device(0, processes: [GPUProcess(pid: 100, usedBytes: 512 * Self.MiB), GPUProcess(pid: 7, usedBytes: nil)]),
            Self.device(1, processes: [GPUProcess(pid: 100, usedBytes: 256 * Self.MiB)]),
        ]))
        let report = try await store.gpuReport()
        #expect(report.available && report.devices.count == 2 && report.processesFunction == "nvmlDeviceGetComputeRunningProcesses_v3")
        let d0 = report.devices[0]
        #expect(d0.powerWatts == 250.5 && d0.utilizationGpuPercent == 50 && d0.errors.isEmpty)
        let listed = try #require(d0.processes)
        #expect(listed.map(\.pid) == [7, 100] && listed.map(\.service) == [nil, "ranker"])
        #expect(listed.map(\.memoryUsedBytes) == [nil, 512 * Self.MiB])
        let row = try #require(try await store.procs().processes.first)
        #expect(row.gpuMemoryBytes == 768 * Self.MiB && row.gpuTrend == "insufficient_data" && row.gpuLeakSuspected == false)
    }

    @Test func clientNotOnAnyDevice_holdsZero_butUnknownWhenAListingFailed() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        _ = await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: nil)]))
        #expect(try await store.procs().processes.first?.gpuMemoryBytes == nil)
        _ = await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: [])]))
        #expect(try await store.procs().processes.first?.gpuMemoryBytes == 0)
    }

    /// Issue 17.3: NVML_VALUE_NOT_AVAILABLE is unknown everywhere — null in procs, left out of the
    /// trend, never "0.0 MiB" in the warning — whether one device or every device withholds it.
    @Test func memoryNVMLWithholds_staysUnknown_inProcsTrendAndWarning() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["launch"])
        await store.connect(2, pid: 200, service: "svc", operations: ["launch"])
        await store.connect(3, pid: 300, service: "other", operations: ["launch"])
        await store.record(1, durations: [10, 20])
        await store.record(2, durations: [10])
        // pid 100: withheld on its only device; 200: known; 300: known on one device, withheld on the other.
        let round = GPUSnapshot(devices: [
            Self.device(0, processes: [GPUProcess(pid: 100, usedBytes: nil), GPUProcess(pid: 200, usedBytes: 64 * Self.MiB),
                                       GPUProcess(pid: 300, usedBytes: 8 * Self.MiB)]),
            Self.device(1, processes: [GPUProcess(pid: 300, usedBytes: nil)]),
        ])
        #expect(round.holdings == [100: GPUHolding(bytes: nil), 200: GPUHolding(bytes: 64 * Self.MiB), 300: GPUHolding(bytes: nil)])
        _ = await store.recordGPU(round)
        let procs = try await store.procs().processes
        #expect(procs.first { $0.pid == 100 }?.gpuMemoryBytes == nil && procs.first { $0.pid == 300 }?.gpuMemoryBytes == nil)
        #expect(procs.first { $0.pid == 200 }?.gpuMemoryBytes == 64 * Self.MiB)
        let rows = try await store.stats().operations
        let one = try #require(rows.first { $0.pid == 100 }?.warnings?.first)
        let merged = try #require(rows.first { $0.pid == nil && $0.service == "svc" }?.warnings?.first)
        print(one, merged, separator: "\n")
        #expect(one.contains("process 100 holds GPU memory (NVML does not say how much)") && !one.contains("MiB"))
        #expect(merged.contains("2 of its processes hold at least 64.0 MiB of GPU memory (NVML does not say how much for all of them)"))
        var metrics = PrometheusExposition.render(await store.metricsSnapshot())
        #expect(metrics.contains("probe_process_gpu_memory_bytes{service=\"svc\",pid=\"200\"} 67108864\n"))
        #expect(!metrics.contains("probe_process_gpu_memory_bytes{service=\"svc\",pid=\"100\"}"), "unknown is absent, not 0")
        #expect(!metrics.contains("probe_process_gpu_memory_bytes{service=\"other\",pid=\"300\"}"), "unknown is absent, not 0")
        // Withheld rounds add nothing to the trend; a known round does.
        for _ in 0..<5 {
            clock.advance(seconds: 1)
            _ = await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: [GPUProcess(pid: 100, usedBytes: nil)])]))
        }
        clock.advance(seconds: 1)
        _ = await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: [GPUProcess(pid: 100, usedBytes: 5 * Self.MiB)])]))
        let after = try #require(try await store.procs().processes.first { $0.pid == 100 })
        #expect(after.gpuMemoryBytes == 5 * Self.MiB && after.gpuTrend == "insufficient_data")
        metrics = PrometheusExposition.render(await store.metricsSnapshot())
        #expect(metrics.contains("probe_process_gpu_memory_bytes{service=\"svc\",pid=\"100\"} 5242880\n"))
    }

    /// A device whose listing had entries probed rejected may hide a client: its memory is unknown, not 0.
    @Test func rejectedEntries_makeAbsentClientsUnknown_notZero() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        var d = Self.device(0, processes: [GPUProcess(pid: 5, usedBytes: Self.MiB)])
        d.processesRejected = 1
        _ = await store.recordGPU(GPUSnapshot(devices: [d]))
        #expect(try await store.procs().processes.first?.gpuMemoryBytes == nil)
    }

    @Test func unsynchronisedOperation_ofAGPUProcess_carriesTheWarning_aSynchronisedOneDoesNot() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["launch", "infer"])
        await store.connect(2, pid: 200, service: "cpu", operations: ["launch"])
        await store.record(1, operation: 0, durations: [10, 20, 30])
        await store.recordSynchronized(1, operation: 1, count: 5)
        await store.record(2, operation: 0, durations: [10])
        _ = await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: [GPUProcess(pid: 100, usedBytes: 3 * Self.MiB)])]))
        let rows = try await store.stats().operations
        let launch = try #require(rows.first { $0.service == "svc" && $0.operation == "launch" && $0.pid == 100 })
        let infer = try #require(rows.first { $0.operation == "infer" && $0.pid == 100 })
        let cpu = try #require(rows.first { $0.service == "cpu" && $0.pid == 200 })
        let merged = try #require(rows.first { $0.service == "svc" && $0.operation == "launch" && $0.pid == nil })
        #expect(launch.deviceSynchronized == false && launch.synchronizedCalls == 0)
        #expect(launch.warnings?.count == 1 && launch.warnings?[0].contains("process 100 holds 3.0 MiB of GPU memory") == true)
        #expect(merged.warnings?.count == 1)
        #expect(infer.deviceSynchronized == true && infer.synchronizedCalls == 5 && infer.warnings == [])
        #expect(cpu.deviceSynchronized == false && cpu.warnings == [], "no GPU memory, no warning")
    }

    @Test func mostlySynchronised_meansAtLeast99Percent() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.recordSynchronized(1, count: 99)
        await store.record(1, durations: [1])
        #expect(try await store.stats().operations.first?.deviceSynchronized == true)
        await store.record(1, durations: [1])
        #expect(try await store.stats().operations.first?.deviceSynchronized == false)
    }

    @Test func growingDeviceMemory_isFlaggedLikeResidentMemory() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        var logged: [String] = []
        for second in 0..<60 as Range<UInt64> {
            logged += await store.recordGPU(GPUSnapshot(devices: [Self.device(0, processes: [
                GPUProcess(pid: 100, usedBytes: 100 * Self.MiB + second * 4 * Self.MiB),
                GPUProcess(pid: 200, usedBytes: 2048 * Self.MiB),
            ])])).map(\.deviceMemoryLogLine)
            clock.advance(seconds: 1)
        }
        let rows = try await store.procs().processes
        let leaking = try #require(rows.first { $0.pid == 100 })
        let steady = try #require(rows.first { $0.pid == 200 })
        #expect(leaking.gpuLeakSuspected == true && leaking.gpuTrend == "leak")
        #expect(abs((leaking.gpuMemoryGrowthBytesPerMin ?? 0) - 240 * 1_048_576) < 1_048_576)
        #expect(steady.gpuLeakSuspected == false && steady.gpuTrend == "flat" && steady.gpuMemoryBytes == 2048 * Self.MiB)
        #expect(logged.count == 1 && logged[0].contains("suspected GPU memory leak") && logged[0].contains("pid 100"))
    }
}
