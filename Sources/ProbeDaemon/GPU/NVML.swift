import CNVML

/// NVIDIA's management library, loaded at run time with `dlopen` so the same probed runs on
/// hosts with and without a GPU. Entry points are resolved once (versioned names first, see
/// `cnvml_open`); every query's error is handled where it happens.
///
/// Not thread-safe: one GPU sampler thread owns it.
final class NVML: @unchecked Sendable {
    // (1) `@unchecked Sendable`: handed once to the sampler thread, then used only there.
    static let defaultLibrary = "libnvidia-ml.so.1"

    /// Why NVML is unavailable: the library could not be loaded, or `nvmlInit` failed.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    private var library = cnvml_library()
    let path: String
    /// The symbols resolved for the versioned entry points (which fallback was taken).
    let initSymbol: String
    let processesSymbol: String?
    let memorySymbol: String?
    let clocksEventReasonsSymbol: String?
    /// nvmlSystemGetDriverVersion, e.g. "580.95.05"; nil when it failed.
    let driverVersion: String?
    /// Bytes per entry the process listing is read with, chosen from the function and the driver
    /// version (`ProcessListing.entryBytes`); 0 without a listing function.
    let processEntryBytes: Int
    /// Entries the process buffer has room for, grown on NVML_ERROR_INSUFFICIENT_SIZE.
    private var processRoom = 64
    /// Raw memory for `processRoom` entries of the largest layout any driver writes, reused
    /// between rounds. UInt64 words, so it is 8-byte aligned as NVML's structs need.
    private var processBuffer = [UInt64](repeating: 0, count: 64 * Int(CNVML_PROCESS_ENTRY_MAX_BYTES) / 8)
    static let maxProcesses = 4096

    /// Loads `path` (`cnvml_open`: `dlopen` and `dlsym`), calls `nvmlInit_v2` (or `nvmlInit`),
    /// then `nvmlSystemGetDriverVersion`.
    init(path: String) throws(Unavailable) {
        self.path = path
        var message = [CChar](repeating: 0, count: 512)
        let opened = cnvml_open(path, &library, &message, message.count)
        guard opened == 0 else {
            let why = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Unavailable(description: "cannot load NVML from \(path): \(why)")
        }
        initSymbol = library.init_symbol.map { String(cString: $0) } ?? "nvmlInit"
        processesSymbol = library.processes_symbol.map { String(cString: $0) }
        memorySymbol = library.memory_symbol.map { String(cString: $0) }
        clocksEventReasonsSymbol = library.clocks_event_reasons_symbol.map { String(cString: $0) }
        let rc = library.initialize!()
        guard rc == NVML_SUCCESS else {
            let text = "\(initSymbol) failed: \(NVML.describe(rc, library.error_string))"
            cnvml_close(&library)
            throw Unavailable(description: text)
        }
        var version = [CChar](repeating: 0, count: Int(CNVML_DRIVER_VERSION_BUFFER_SIZE))
        // nvmlSystemGetDriverVersion
        let versionRC = library.system_get_driver_version?(&version, UInt32(version.count))
        driverVersion = versionRC == NVML_SUCCESS ? NVML.string(version) : nil
        processEntryBytes = ProcessListing.entryBytes(function: Int(library.processes_version), driverVersion: driverVersion)
    }

    deinit {
        if library.handle != nil {
            _ = library.shutdown?()
            cnvml_close(&library)
        }
    }

    /// `nvmlErrorString(rc)` with the numeric code, e.g. "GPU is lost (NVML error 15)".
    static func describe(_ rc: nvmlReturn_t, _ errorString: cnvml_error_string_fn?) -> String {
        let text = errorString?(rc).map { String(cString: $0) } ?? "error"
        return "\(text) (NVML error \(rc))"
    }

    func describe(_ rc: nvmlReturn_t) -> String { NVML.describe(rc, library.error_string) }

    /// One round over every device. Never throws: each failed query leaves its figure nil and its
    /// error in the device's `errors`.
    func sample(time: UInt64) -> GPUSnapshot {
        var snapshot = GPUSnapshot(time: time)
        var count: UInt32 = 0
        // nvmlDeviceGetCount_v2 (or nvmlDeviceGetCount)
        let rc = library.device_get_count!(&count)
        guard rc == NVML_SUCCESS else {
            snapshot.countError = describe(rc)
            return snapshot
        }
        for index in 0..<min(count, 64) {
            snapshot.devices.append(device(Int(index)))
        }
        return snapshot
    }

    private func device(_ index: Int) -> GPUDevice {
        var d = GPUDevice(index: index)
        var handle: nvmlDevice_t? = nil
        // nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)
        let rc = library.device_get_handle_by_index!(UInt32(index), &handle)
        guard rc == NVML_SUCCESS, let handle else {
            d.errors["handle"] = describe(rc == NVML_SUCCESS ? NVML_ERROR_UNKNOWN : rc)
            return d
        }
        func query(_ name: String, _ rc: nvmlReturn_t?) -> Bool {
            guard let rc else {
                d.errors[name] = "this NVML lacks the function"
                return false
            }
            if rc != NVML_SUCCESS { d.errors[name] = describe(rc) }
            return rc == NVML_SUCCESS
        }
        var text = [CChar](repeating: 0, count: Int(CNVML_NAME_BUFFER_SIZE))
        // nvmlDeviceGetName
        if query("name", library.device_get_name?(handle, &text, UInt32(text.count))) { d.name = NVML.string(text) }
        text = [CChar](repeating: 0, count: Int(CNVML_UUID_BUFFER_SIZE))
        // nvmlDeviceGetUUID
        if query("uuid", library.device_get_uuid?(handle, &text, UInt32(text.count))) { d.uuid = NVML.string(text) }
        readMemory(handle, into: &d)
        var utilization = nvmlUtilization_t()
        // nvmlDeviceGetUtilizationRates
        if query("utilization", library.device_get_utilization_rates?(handle, &utilization)) {
            d.utilizationGPUPercent = utilization.gpu
            d.utilizationMemoryPercent = utilization.memory
        }
        var celsius: UInt32 = 0
        // nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)
        if query("temperature", library.device_get_temperature?(handle, nvmlTemperatureSensors_t(NVML_TEMPERATURE_GPU), &celsius)) {
            d.temperatureCelsius = celsius
        }
        var milliwatts: UInt32 = 0
        // nvmlDeviceGetPowerUsage
        if query("power", library.device_get_power_usage?(handle, &milliwatts)) { d.powerMilliwatts = milliwatts }
        var mhz: UInt32 = 0
        // nvmlDeviceGetClockInfo(NVML_CLOCK_SM)
        if query("sm_clock", library.device_get_clock_info?(handle, nvmlClockType_t(NVML_CLOCK_SM), &mhz)) { d.smClockMHz = mhz }
        var reasons: UInt64 = 0
        // nvmlDeviceGetCurrentClocksEventReasons (or nvmlDeviceGetCurrentClocksThrottleReasons)
        if query("clocks_event_reasons", library.device_get_clocks_event_reasons?(handle, &reasons)) { d.clocksEventReasons = reasons }
        switch processes(handle) {
        case .success(let answer):
            let listing = ProcessListing(answer.raw, count: answer.count, expectedEntryBytes: processEntryBytes,
                                         deviceTotalBytes: d.memoryTotalBytes)
            d.processes = listing.processes
            d.processesRejected = listing.rejected
            if let note = listing.layoutNote(function: processesSymbol ?? "?", driverVersion: driverVersion) { d.errors["processes_layout"] = note }
            if let note = listing.rejectionNote { d.errors["processes"] = note }
        case .failure(let error): d.errors["processes"] = error.description
        }
        return d
    }

    /// `nvmlDeviceGetMemoryInfo_v2` where the library has it, so that "used" leaves out reserved
    /// memory as nvidia-smi does; the v1 call otherwise, or where a device refuses v2 (its
    /// `used` counts reserved memory, and `memory_v2` says why it was not used).
    private func readMemory(_ handle: nvmlDevice_t, into d: inout GPUDevice) {
        if let v2 = library.device_get_memory_info_v2 {
            var memory = nvmlMemory_v2_t()
            memory.version = CNVML_MEMORY_V2_VERSION
            // nvmlDeviceGetMemoryInfo_v2
            let rc = v2(handle, &memory)
            if rc == NVML_SUCCESS {
                d.memoryTotalBytes = memory.total
                d.memoryReservedBytes = memory.reserved
                d.memoryUsedBytes = memory.used
                d.memoryFreeBytes = memory.free
                return
            }
            // A device or driver that does not take v2: v1 still answers. Anything else is the device's state.
            guard rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_ARGUMENT_VERSION_MISMATCH || rc == NVML_ERROR_FUNCTION_NOT_FOUND,
                  library.device_get_memory_info != nil
            else {
                d.errors["memory"] = describe(rc)
                return
            }
            d.errors["memory_v2"] = "\(describe(rc)); memory from nvmlDeviceGetMemoryInfo, whose used figure includes reserved memory"
        }
        guard let v1 = library.device_get_memory_info else {
            d.errors["memory"] = "this NVML lacks the function"
            return
        }
        var memory = nvmlMemory_t()
        // nvmlDeviceGetMemoryInfo
        let rc = v1(handle, &memory)
        guard rc == NVML_SUCCESS else {
            d.errors["memory"] = describe(rc)
            return
        }
        d.memoryTotalBytes = memory.total
        d.memoryUsedBytes = memory.used
        d.memoryFreeBytes = memory.free
    }

    /// `nvmlDeviceGetComputeRunningProcesses_v3` (or `_v2`, or the unversioned function), into a
    /// buffer with room for `processRoom` entries of the largest layout whatever layout is read,
    /// so no driver can write past it; grows the buffer while NVML answers `INSUFFICIENT_SIZE`.
    /// The buffer is filled with `ProcessListing.canary` first, so what NVML wrote can be told
    /// from what it left. Returns the bytes and the entry count NVML gave.
    private func processes(_ handle: nvmlDevice_t) -> Result<(raw: [UInt8], count: Int), Unavailable> {
        guard let list = library.device_get_processes else {
            return .failure(Unavailable(description: "this NVML lacks nvmlDeviceGetComputeRunningProcesses"))
        }
        for _ in 0..<4 {
            var count = UInt32(processRoom)
            let rc = processBuffer.withUnsafeMutableBytes { raw in
                raw.initializeMemory(as: UInt8.self, repeating: ProcessListing.canary)
                return list(handle, &count, raw.baseAddress)
            }
            if rc == NVML_SUCCESS {
                guard count <= UInt32(processRoom) else {
                    return .failure(Unavailable(description: "NVML answered \(count) processes for a buffer of \(processRoom); ignored"))
                }
                let used = min(processBuffer.count * 8, processRoom * Int(CNVML_PROCESS_ENTRY_MAX_BYTES))
                return .success((processBuffer.withUnsafeBytes { Array($0.prefix(used)) }, Int(count)))
            }
            guard rc == NVML_ERROR_INSUFFICIENT_SIZE, count > UInt32(processRoom), count <= UInt32(NVML.maxProcesses) else {
                return .failure(Unavailable(description: describe(rc)))
            }
            // Room for the processes NVML counted, and some that start meanwhile.
            processRoom = min(Int(count) + 16, NVML.maxProcesses)
            processBuffer = [UInt64](repeating: 0, count: processRoom * Int(CNVML_PROCESS_ENTRY_MAX_BYTES) / 8)
        }
        return .failure(Unavailable(description: describe(NVML_ERROR_INSUFFICIENT_SIZE)))
    }

    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
