import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import Testing

/// The NVML test double (Tests/Fixtures/FakeNVML/fake_nvml.c), compiled with `cc -shared -fPIC`
/// once per variant next to the built products.
enum FakeNVML {
    enum Variant: String, CaseIterable {
        case full = ""
        case noV3 = "-DFAKE_NVML_NO_V3"
        case v1Only = "-DFAKE_NVML_V1_ONLY"
    }

    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/FakeNVML/fake_nvml.c").path
    static let built = Locked([Variant: String]())
    static let lock = NSLock()

    static func library(_ variant: Variant = .full) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path = built.get()[variant] { return path }
        let directory = Products.directory.appendingPathComponent("fake-nvml").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "libfake-nvml\(variant.rawValue.isEmpty ? "" : "-" + variant.rawValue.dropFirst(2).lowercased()).so"
        let path = directory + "/" + name
        let temporary = path + ".\(getpid()).tmp"
        let o = try run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror"]
            + (variant.rawValue.isEmpty ? [] : [variant.rawValue]) + [source, "-o", temporary])
        guard o.status == 0 else { throw Failure("cc could not build the fake NVML (\(o.status)): \(o.stderr)") }
        guard rename(temporary, path) == 0 else { throw Failure("cannot rename \(temporary) to \(path)") }
        built.update { $0[variant] = path }
        return path
    }
}

/// A probed whose NVML is `library` (nil: whatever `environment` or the default names), with the
/// fake's script in a file of its own that the test may rewrite while probed runs.
final class GPUDaemon {
    let scripts = TemporaryDirectory()
    let script: String
    let daemon: RunningDaemon

    init(library: String?, script text: String = "", environment: [String: String] = [:], sampleInterval: String = "100ms",
         arguments: [String] = []) throws {
        script = scripts.file("nvml-script.txt")
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["PROBED_NVML_LIBRARY"] = nil
        env["FAKE_NVML_SCRIPT"] = script
        env.merge(environment) { $1 }
        daemon = try RunningDaemon(["--sample-interval", sampleInterval] + (library.map { ["--nvml-library", $0] } ?? []) + arguments,
                                   environment: env)
    }
}

extension RunningDaemon {
    func gpu() throws -> GPUReport {
        let o = try probectl(["gpu", "--json"])
        guard o.status == 0 else { throw Failure("probectl gpu failed (\(o.status)): \(o.stderr)") }
        return try JSONDecoder.snakeCase.decode(GPUReport.self, from: Data(o.stdout.utf8))
    }

    /// Polls `probectl gpu --json` until `ready` holds (samples come every 100 ms), up to 20 s.
    func gpu(until ready: (GPUReport) -> Bool) throws -> GPUReport {
        let deadline = Date().addingTimeInterval(20)
        var last = try gpu()
        while !ready(last) && Date() < deadline {
            usleep(50_000)
            last = try gpu()
        }
        return last
    }

    func logLines(containing text: String) -> [Substring] {
        logText.split(separator: "\n").filter { $0.contains(text) }
    }
}

extension GPUReport {
    /// probed has tried NVML at least once (its sampler starts beside the ingest loop, so a slow
    /// build, a sanitizer's, can answer probectl before that).
    var sampled: Bool { reason != "GPU sampling is not running" }
}

let GiB: UInt64 = 1 << 30
let MiB: UInt64 = 1 << 20

let twoDevices = """
    device 0 NVIDIA_H100_80GB_HBM3 GPU-11111111-2222-3333-4444-555555555555 85899345920 2147483648 83751862272 37 12 45 123456
    reserved 0 536870912
    clocks 0 1980 0x4
    device 1 Tesla_T4 GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee 16106127360 1048576 16105078784 3 1 30 70000
    clocks 1 585 0x1

    """

@Suite(.serialized) struct GPUEndToEndTests {
    /// Done-when: against a library implementing NVML's real ABI, `probectl gpu --json` shows
    /// exactly what the library reports, and a client process's device memory appears with it
    /// (in `gpu`, in `procs`, and as a warning on its unsynchronised operation).
    @Test func fakeNVML_devicesAndProcesses_areShownExactly_withAClientsDeviceMemory() throws {
        let g = try GPUDaemon(library: try FakeNVML.library(), script: twoDevices)
        let (daemon, script) = (g.daemon, g.script)
        defer { daemon.stop() }
        let durations = daemon.directory.file("durations.txt")
        try (Array(repeating: "1000000", count: 20).joined(separator: "\n")).write(toFile: durations, atomically: true, encoding: .utf8)
        let client = try ChildProcess(Products.path("probe-fixture"), [
            "--socket", daemon.socket, "--service", "gpu-svc", "--operation", "launch", "--durations", durations,
            "--synced-operation", "infer", "--synced-calls", "20", "--linger", "60",
        ])
        defer { client.kill() }
        // The client has connected and shipped its calls.
        let deadline = Date().addingTimeInterval(20)
        while try daemon.stats().operations.filter({ $0.pid == client.pid }).map(\.calls).reduce(0, +) < 40 && Date() < deadline {
            usleep(50_000)
        }
        try (twoDevices + """
            process 0 \(client.pid) 536870912
            process 0 31337 na
            process 1 \(client.pid) 268435456
            process 1 31338 1048576

            """).write(toFile: script, atomically: true, encoding: .utf8)
        let report = try daemon.gpu { ($0.devices.first?.processes ?? []).contains { $0.pid == client.pid } }
        print("probectl gpu --json: \(report)")
        #expect(report.available && report.reason == nil && report.devices.count == 2)
        #expect(report.processesFunction == "nvmlDeviceGetComputeRunningProcesses_v3" && report.processesEntryBytes == 24)
        #expect(report.driverVersion == "580.95.05" && report.memoryFunction == "nvmlDeviceGetMemoryInfo_v2")
        #expect(report.clocksEventReasonsFunction == "nvmlDeviceGetCurrentClocksEventReasons")
        let h100 = try #require(report.devices.first)
        #expect(h100.index == 0 && h100.name == "NVIDIA H100 80GB HBM3" && h100.uuid == "GPU-11111111-2222-3333-4444-555555555555")
        // v2: used leaves the reserved memory out, as nvidia-smi does.
        #expect(h100.memoryTotalBytes == 80 * GiB && h100.memoryUsedBytes == 2 * GiB && h100.memoryFreeBytes == 78 * GiB)
        #expect(h100.memoryReservedBytes == 512 * MiB)
        #expect(h100.utilizationGpuPercent == 37 && h100.utilizationMemoryPercent == 12)
        #expect(h100.temperatureCelsius == 45 && h100.powerWatts == 123.456 && h100.errors.isEmpty)
        #expect(h100.smClockMhz == 1980 && h100.clocksEventReasons == ["sw_power_cap"])
        let p0 = try #require(h100.processes)
        #expect(p0.map(\.pid).sorted() == [client.pid, 31337].sorted())
        #expect(p0.first { $0.pid == client.pid }?.service == "gpu-svc" && p0.first { $0.pid == client.pid }?.memoryUsedBytes == 512 * MiB)
        #expect(p0.first { $0.pid == 31337 }?.service == nil && p0.first { $0.pid == 31337 }?.memoryUsedBytes == nil)
        let t4 = report.devices[1]
        #expect(t4.index == 1 && t4.name == "Tesla T4" && t4.uuid == "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        #expect(t4.memoryTotalBytes == 15 * GiB && t4.memoryUsedBytes == MiB && t4.memoryFreeBytes == 15 * GiB - MiB)
        #expect(t4.utilizationGpuPercent == 3 && t4.utilizationMemoryPercent == 1 && t4.temperatureCelsius == 30 && t4.powerWatts == 70)
        #expect(t4.smClockMhz == 585 && t4.clocksEventReasons == ["gpu_idle"] && t4.memoryReservedBytes == 0)
        #expect(t4.processes?.first { $0.pid == client.pid }?.memoryUsedBytes == 256 * MiB)
        #expect(t4.processes?.first { $0.pid == 31338 }.map { $0.service == nil && $0.memoryUsedBytes == MiB } == true)

        // The client's memory picture includes its device memory, summed over the devices.
        var row = try daemon.procs().processes.first { $0.pid == client.pid }
        let until = Date().addingTimeInterval(10)
        while row?.gpuMemoryBytes != 768 * MiB && Date() < until {
            usleep(50_000)
            row = try daemon.procs().processes.first { $0.pid == client.pid }
        }
        #expect(row?.gpuMemoryBytes == 768 * MiB)
        let procsTable = try daemon.probectl(["procs"])
        print(procsTable.stdout)
        #expect(procsTable.status == 0 && procsTable.stdout.contains("GPU MEM") && procsTable.stdout.contains("768MiB"))

        // Its unsynchronised operation carries the warning; its synchronised one does not.
        let rows = try daemon.stats().operations.filter { $0.pid == client.pid }
        let launch = try #require(rows.first { $0.operation == "launch" })
        let infer = try #require(rows.first { $0.operation == "infer" })
        print("launch: synchronised \(launch.deviceSynchronized as Any), warnings \(launch.warnings ?? [])")
        #expect(launch.deviceSynchronized == false && launch.warnings?.count == 1)
        #expect(launch.warnings?.first?.contains("process \(client.pid) holds 768.0 MiB of GPU memory") == true)
        #expect(infer.deviceSynchronized == true && infer.synchronizedCalls == 20 && infer.warnings == [])

        let table = try daemon.probectl(["gpu"])
        print(table.stdout)
        #expect(table.status == 0 && table.stdout.contains("GPU 0: NVIDIA H100 80GB HBM3") && table.stdout.contains("gpu-svc"))
        #expect(table.stdout.contains("2.00GiB used of 80.0GiB, 512MiB reserved, 78.0GiB free"))
        #expect(table.stdout.contains("clocks       SM 1980 MHz; held back by sw_power_cap"))
        #expect(table.stdout.contains("clocks       SM 585 MHz; held back by gpu_idle") && table.stdout.contains("driver 580.95.05"))
        let stats = try daemon.probectl(["stats"])
        print(stats.stdout)
        #expect(stats.status == 0 && stats.stdout.contains("launch !") && stats.stdout.contains("! gpu-svc launch: timings not device-synchronised"))
    }

    /// Each query's error is handled where it happens: the device keeps its other figures.
    @Test func perQueryErrors_nullOnlyTheirFigures_andAreLoggedOnce() throws {
        let script = twoDevices + """
            device 2 A100 GPU-cccccccc-0000-0000-0000-000000000000 42949672960 0 42949672960 0 0 33 50000
            error 0 utilization 3
            error 0 memory_v2 25
            error 1 memory 15
            error 1 processes 15
            error 2 handle 15

            """
        let g = try GPUDaemon(library: try FakeNVML.library(), script: script)
        let daemon = g.daemon
        defer { daemon.stop() }
        let report = try daemon.gpu { $0.devices.count == 3 }
        print(report)
        #expect(report.available && report.devices.count == 3)
        let d0 = report.devices[0], d1 = report.devices[1], d2 = report.devices[2]
        #expect(d0.utilizationGpuPercent == nil && d0.utilizationMemoryPercent == nil)
        #expect(d0.errors["utilization"] == "Not Supported (NVML error 3)")
        #expect(d0.memoryTotalBytes == 80 * GiB && d0.temperatureCelsius == 45 && d0.powerWatts == 123.456 && d0.processes == [])
        // A device that refuses the v2 memory call: v1's figures (used counts the reserved 512 MiB), and why.
        #expect(d0.memoryUsedBytes == 2 * GiB + 512 * MiB && d0.memoryReservedBytes == nil)
        #expect(d0.errors["memory_v2"]?.hasPrefix("Argument Version Mismatch (NVML error 25); memory from nvmlDeviceGetMemoryInfo") == true)
        #expect(d1.memoryTotalBytes == nil && d1.memoryUsedBytes == nil && d1.memoryFreeBytes == nil && d1.processes == nil)
        #expect(d1.errors["memory"] == "GPU is lost (NVML error 15)" && d1.errors["processes"] == "GPU is lost (NVML error 15)")
        #expect(d1.name == "Tesla T4" && d1.utilizationGpuPercent == 3 && d1.temperatureCelsius == 30 && d1.powerWatts == 70)
        #expect(d2.index == 2 && d2.name == nil && d2.errors["handle"] == "GPU is lost (NVML error 15)")
        let t = try daemon.probectl(["gpu"])
        #expect(t.status == 0 && t.stdout.contains("utilization  not reported") && t.stdout.contains("! memory: GPU is lost"))
        usleep(500_000)  // several more rounds: the errors are logged when they appear, not every round
        #expect(daemon.logLines(containing: "GPU 1 memory: GPU is lost").count == 1)
        #expect(daemon.logLines(containing: "GPU 0 utilization: Not Supported").count == 1)
    }

    /// `_v3` absent (drivers before 510): `_v2` is used, with the v1 memory call and the older
    /// throttle-reasons name; only unversioned symbols: the v1 layout. 70 processes on one device
    /// exceed the first buffer (64), so INSUFFICIENT_SIZE is handled too.
    @Test(arguments: [(FakeNVML.Variant.full, "nvmlDeviceGetComputeRunningProcesses_v3"),
                      (.noV3, "nvmlDeviceGetComputeRunningProcesses_v2"),
                      (.v1Only, "nvmlDeviceGetComputeRunningProcesses")])
    func processListing_fallsBackWhenVersionedEntryPointsAreAbsent(variant: FakeNVML.Variant, expected: String) throws {
        let script = twoDevices + "processes 0 100000 70 1048576\nprocess 1 5555 2147483648\n"
        // The library named by the environment variable this time.
        let g = try GPUDaemon(library: nil, script: script, environment: ["PROBED_NVML_LIBRARY": try FakeNVML.library(variant)])
        let daemon = g.daemon
        defer { daemon.stop() }
        let report = try daemon.gpu { $0.devices.count == 2 }
        #expect(report.processesFunction == expected)
        let listed = try #require(report.devices[0].processes)
        print("\(variant): \(expected), \(listed.count) processes on GPU 0")
        #expect(listed.count == 70 && listed.map(\.pid) == (100000..<100070).map { $0 } && listed.allSatisfy { $0.memoryUsedBytes == MiB })
        #expect(report.devices[1].processes?.map(\.pid) == [5555] && report.devices[1].processes?.first?.memoryUsedBytes == 2 * GiB)
        #expect(report.devices[0].memoryTotalBytes == 80 * GiB && report.devices[1].name == "Tesla T4")
        #expect(report.processesEntryBytes == (variant == .v1Only ? 16 : 24))
        #expect(daemon.logLines(containing: "processes via \(expected) read as").count == 1)
        // Memory: v2 (used without the reserved 512 MiB) where the library has it, else v1 (with it).
        let h100 = report.devices[0]
        if variant == .full {
            #expect(report.memoryFunction == "nvmlDeviceGetMemoryInfo_v2" && h100.memoryUsedBytes == 2 * GiB && h100.memoryReservedBytes == 512 * MiB)
            #expect(report.clocksEventReasonsFunction == "nvmlDeviceGetCurrentClocksEventReasons")
        } else {
            #expect(report.memoryFunction == "nvmlDeviceGetMemoryInfo" && h100.memoryUsedBytes == 2 * GiB + 512 * MiB && h100.memoryReservedBytes == nil)
            #expect(report.clocksEventReasonsFunction == "nvmlDeviceGetCurrentClocksThrottleReasons")
        }
        #expect(h100.clocksEventReasons == ["sw_power_cap"] && h100.smClockMhz == 1980)
    }

    /// Issue 17.2, end to end: a 535.54 driver writes 32-byte entries into the _v3 buffer. Two
    /// client processes holding 1 GiB and 2 GiB are both shown, with their memory; a driver whose
    /// entries do not match its version is read as written and said so; an entry that cannot be
    /// right is left out and said. Issue 17.3: a figure NVML withholds stays null in procs.
    @Test func processEntries_ofDriver535_54_areReadAs32Bytes_andMismatchesAreDetected() throws {
        let g = try GPUDaemon(library: try FakeNVML.library(), script: "driver 535.54.03\n" + twoDevices)
        let (daemon, script) = (g.daemon, g.script)
        defer { daemon.stop() }
        let durations = daemon.directory.file("durations.txt")
        try "1000000\n".write(toFile: durations, atomically: true, encoding: .utf8)
        let clients = try ["one", "two"].map { service in
            try ChildProcess(Products.path("probe-fixture"), [
                "--socket", daemon.socket, "--service", service, "--operation", "infer", "--durations", durations, "--linger", "60",
            ])
        }
        defer { clients.forEach { $0.kill() } }
        let (one, two) = (Int32(clients[0].pid), Int32(clients[1].pid))
        var processes = "process 0 \(one) 1073741824\nprocess 0 \(two) 2147483648\n"
        try ("driver 535.54.03\n" + twoDevices + processes).write(toFile: script, atomically: true, encoding: .utf8)
        // (pid, service, bytes), by pid as probectl gpu lists them.
        let expected = [(Int(one), "one", GiB), (Int(two), "two", 2 * GiB)].sorted { $0.0 < $1.0 }
        func listed(_ r: GPUReport) -> Bool {
            guard let p = r.devices.first?.processes, p.count == 2 else { return false }
            return zip(p, expected).allSatisfy { $0.pid == $1.0 && $0.service == $1.1 && $0.memoryUsedBytes == $1.2 }
        }
        var report = try daemon.gpu(until: listed)
        print("535.54.03: \(report.devices[0].processes ?? [])")
        #expect(report.driverVersion == "535.54.03" && report.processesEntryBytes == 32)
        #expect(listed(report) && report.devices[0].errors.isEmpty)
        // procs follows once both clients were connected during a round.
        var rows = try daemon.procs().processes
        let ready = Date().addingTimeInterval(10)
        while !(rows.first { $0.pid == Int(one) }?.gpuMemoryBytes == GiB && rows.first { $0.pid == Int(two) }?.gpuMemoryBytes == 2 * GiB)
                && Date() < ready {
            usleep(50_000)
            rows = try daemon.procs().processes
        }
        #expect(rows.first { $0.pid == Int(one) }?.gpuMemoryBytes == GiB && rows.first { $0.pid == Int(two) }?.gpuMemoryBytes == 2 * GiB)

        // The same version writing 24-byte entries: the bytes written tell, and it is said once.
        try ("driver 535.54.03\nprocess_entry_bytes 24\n" + twoDevices + processes).write(toFile: script, atomically: true, encoding: .utf8)
        report = try daemon.gpu { $0.devices.first?.errors["processes_layout"] != nil }
        print("mismatch: \(report.devices[0].errors)")
        #expect(listed(report))
        #expect(report.devices[0].errors["processes_layout"] == "driver 535.54.03 wrote 24-byte entries to "
            + "nvmlDeviceGetComputeRunningProcesses_v3 where 32 were expected; read as 24-byte entries")

        // An entry no process can have (pid 0), and a figure NVML withholds for client two.
        processes = "process 0 \(one) 1073741824\nprocess 0 0 4096\nprocess 0 \(two) na\n"
        try ("driver 535.54.03\n" + twoDevices + processes).write(toFile: script, atomically: true, encoding: .utf8)
        report = try daemon.gpu { $0.devices.first?.errors["processes"] != nil }
        print("rejected: \(report.devices[0].errors)")
        #expect(report.devices[0].processes?.map(\.pid).sorted() == [Int(one), Int(two)].sorted())
        #expect(report.devices[0].errors["processes"]?.hasPrefix("ignored 1 of 3 process entries that cannot be right (the first: pid 0 holding 4096 bytes)") == true)
        var row = try daemon.procs().processes.first { $0.pid == Int(two) }
        let until = Date().addingTimeInterval(10)
        while row?.gpuMemoryBytes != nil && Date() < until {
            usleep(50_000)
            row = try daemon.procs().processes.first { $0.pid == Int(two) }
        }
        #expect(row != nil && row?.gpuMemoryBytes == nil, "withheld is null, not 0: \(String(describing: row))")
        // The table's GPU MEM cell (right-aligned under its header) is "-".
        let table = try daemon.probectl(["procs"]).stdout
        print(table)
        let lines = table.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("SERVICE") }), line = try #require(lines.first { $0.hasPrefix("two ") })
        let column = try #require(header.range(of: "GPU MEM"))
        let (from, to) = (header.distance(from: header.startIndex, to: column.lowerBound), header.distance(from: header.startIndex, to: column.upperBound))
        let cell = String(Array(line)[from..<min(to, line.count)]).trimmingCharacters(in: .whitespaces)
        #expect(cell == "-", "procs shows - for unknown device memory: \(line)")
        let warning = try daemon.stats().operations.first { $0.pid == Int(two) }?.warnings?.first ?? ""
        #expect(warning.contains("holds GPU memory (NVML does not say how much)") && !warning.contains("0.0 MiB"), "\(warning)")
        #expect(daemon.logLines(containing: "processes_layout: driver").count == 1)
        #expect(daemon.logLines(containing: "GPU 0 processes: ignored").count == 1)
    }

    /// A driver/library mismatch (nvmlInit fails): probed keeps running, one log line, gpu says why.
    @Test func initFailure_leavesProbedRunning_withOneLogLine_andGpuExplains() throws {
        let g = try GPUDaemon(library: try FakeNVML.library(), script: "init 18\n" + twoDevices)
        let daemon = g.daemon
        defer { daemon.stop() }
        let report = try daemon.gpu(until: \.sampled)
        #expect(!report.available && report.devices.isEmpty)
        #expect(report.reason == "nvmlInit_v2 failed: RM has detected an NVML/RM version mismatch. (NVML error 18)")
        let text = try daemon.probectl(["gpu"])
        print(text.stdout)
        #expect(text.status == 0 && text.stdout.contains("no GPU figures: nvmlInit_v2 failed"))
        #expect(daemon.logLines(containing: "GPU figures unavailable").count == 1)
        #expect(try daemon.status().version == probeVersion)
    }

    /// No library at the path given, and none at the default path: probed starts, serves, explains.
    @Test func missingLibrary_atAnExplicitPath_andAtTheDefault_leaveProbedServing() throws {
        let g = try GPUDaemon(library: "/nonexistent/libnvidia-ml.so.1")
        let daemon = g.daemon
        defer { daemon.stop() }
        let report = try daemon.gpu(until: \.sampled)
        print(report.reason ?? "-")
        #expect(!report.available && report.reason?.hasPrefix("cannot load NVML from /nonexistent/libnvidia-ml.so.1") == true)
        #expect(daemon.logLines(containing: "GPU figures unavailable").count == 1)
        let text = try daemon.probectl(["gpu"])
        #expect(text.status == 0 && text.stdout.contains("no GPU figures") && text.stdout.contains("--nvml-library"))
        #expect(try daemon.probectl(["stats"]).status == 0 && daemon.status().connectedProcesses == 0)

        // The default, libnvidia-ml.so.1: absent on this machine unless a driver is installed.
        guard dlopen("libnvidia-ml.so.1", RTLD_LAZY) == nil else {
            print("libnvidia-ml.so.1 is installed here: the default-path absence is not checked")
            return
        }
        let gp = try GPUDaemon(library: nil)
        let plain = gp.daemon
        defer { plain.stop() }
        let fallback = try plain.gpu(until: \.sampled)
        print(fallback.reason ?? "-")
        #expect(!fallback.available && fallback.reason?.contains("libnvidia-ml.so.1") == true)
        #expect(plain.logLines(containing: "GPU figures unavailable").count == 1 && plain.logLines(containing: "info:").count >= 2)
        #expect(try plain.probectl(["gpu"]).status == 0 && plain.probectl(["status"]).status == 0)
    }

    /// A file that is not a library, or a library that is not NVML: one clear line, keep running.
    @Test func notALibrary_orNotNVML_isExplained() throws {
        let g = try GPUDaemon(library: "/etc/hostname")
        let daemon = g.daemon
        defer { daemon.stop() }
        let report = try daemon.gpu(until: \.sampled)
        #expect(!report.available && report.reason?.contains("cannot load NVML from /etc/hostname") == true)
        #expect(daemon.logLines(containing: "GPU figures unavailable").count == 1)

        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        guard FileManager.default.fileExists(atPath: libc) else { return }
        let go = try GPUDaemon(library: libc)
        let other = go.daemon
        defer { other.stop() }
        #expect(try other.gpu(until: \.sampled).reason?.contains("does not export nvmlInit_v2 (or nvmlInit); it is not NVML") == true)
    }

    @Test func emptyNvmlLibraryFlag_isAUsageError() throws {
        let o = try run(Products.path("probed"), ["--nvml-library", ""])
        #expect(o.status == 2 && o.stderr.contains("--nvml-library needs a path"))
    }
}

@Suite(.serialized) struct SyncMeasureTests {
    /// Done-when: a sync-measured call's duration includes the time in the sync closure at the
    /// end. The closure sleeps 20 ms at its second call only (the stop), so each call lasts at
    /// least 20 ms; a causal lower bound, the figure itself is printed.
    @Test func syncMeasuredCall_includesTheFinalSync_andIsMarkedSynchronised() async throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        defer { daemon.stop() }
        let probe = Probe(service: "sync-test", socketPath: daemon.socket)
        var syncs = 0
        let value = probe.measure("step", sync: {
            syncs += 1
            if syncs == 2 { usleep(20_000) }
        }) { 42 }
        #expect(value == 42 && syncs == 2)
        let step = probe.operation("step")
        var again = 0
        step.measure(sync: { again += 1; if again == 2 { usleep(20_000) } }) {}
        var asyncSyncs = 0
        let text = await probe.measure("async_step", sync: {
            asyncSyncs += 1
            if asyncSyncs == 2 { try? await Task.sleep(nanoseconds: 20_000_000) }
        }) { "done" }
        #expect(text == "done" && asyncSyncs == 2)
        struct Failed: Error {}
        #expect(throws: Failed.self) { try probe.measure("failing", sync: {}) { throw Failed() } }
        #expect(probe.flush(timeout: .seconds(10)))
        let rows = try daemon.stats().operations.filter { $0.pid != nil }
        let sync = try #require(rows.first { $0.operation == "step" })
        let asyncRow = try #require(rows.first { $0.operation == "async_step" })
        let failing = try #require(rows.first { $0.operation == "failing" })
        print("sync-measured durations: step min \(sync.minNs ?? 0) ns, async_step min \(asyncRow.minNs ?? 0) ns")
        #expect(sync.calls == 2 && (sync.minNs ?? 0) >= 20_000_000)
        #expect(asyncRow.calls == 1 && (asyncRow.minNs ?? 0) >= 20_000_000)
        #expect(sync.deviceSynchronized == true && sync.synchronizedCalls == 2 && sync.warnings == [])
        #expect(failing.errors == 1 && failing.deviceSynchronized == true)
    }
}
