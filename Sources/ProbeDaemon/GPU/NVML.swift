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
    /// Reused between rounds: at most `maxProcesses` per device.
    private var processBuffer = [nvmlProcessInfo_t](repeating: nvmlProcessInfo_t(), count: 64)
    static let maxProcesses = 4096

    /// Loads `path` (`cnvml_open`: `dlopen` and `dlsym`) and calls `nvmlInit_v2` (or `nvmlInit`).
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
        let rc = library.initialize!()
        guard rc == NVML_SUCCESS else {
            let text = "\(initSymbol) failed: \(NVML.describe(rc, library.error_string))"
            cnvml_close(&library)
            throw Unavailable(description: text)
        }
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
        var memory = nvmlMemory_t()
        // nvmlDeviceGetMemoryInfo
        if query("memory", library.device_get_memory_info?(handle, &memory)) {
            d.memoryTotalBytes = memory.total
            d.memoryUsedBytes = memory.used
            d.memoryFreeBytes = memory.free
        }
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
        switch processes(handle) {
        case .success(let list): d.processes = list
        case .failure(let error): d.errors["processes"] = error.description
        }
        return d
    }

    /// `nvmlDeviceGetComputeRunningProcesses_v3` (or `_v2`, or the v1 layout of the unversioned
    /// function), growing the buffer while NVML answers `INSUFFICIENT_SIZE`.
    private func processes(_ handle: nvmlDevice_t) -> Result<[GPUProcess], Unavailable> {
        for _ in 0..<4 {
            var count = UInt32(processBuffer.count)
            let rc: nvmlReturn_t
            var list: [GPUProcess] = []
            if let v2 = library.device_get_processes {
                rc = processBuffer.withUnsafeMutableBufferPointer { v2(handle, &count, $0.baseAddress) }
                if rc == NVML_SUCCESS {
                    list = processBuffer.prefix(Int(min(count, UInt32(processBuffer.count)))).map(NVML.process)
                }
            } else if let v1 = library.device_get_processes_v1 {
                var buffer = [nvmlProcessInfo_v1_t](repeating: nvmlProcessInfo_v1_t(), count: processBuffer.count)
                rc = buffer.withUnsafeMutableBufferPointer { v1(handle, &count, $0.baseAddress) }
                if rc == NVML_SUCCESS {
                    list = buffer.prefix(Int(min(count, UInt32(buffer.count)))).map {
                        GPUProcess(pid: Int32(bitPattern: $0.pid), usedBytes: $0.usedGpuMemory == CNVML_VALUE_NOT_AVAILABLE ? nil : $0.usedGpuMemory)
                    }
                }
            } else {
                return .failure(Unavailable(description: "this NVML lacks nvmlDeviceGetComputeRunningProcesses"))
            }
            if rc == NVML_SUCCESS { return .success(list) }
            guard rc == NVML_ERROR_INSUFFICIENT_SIZE, count > UInt32(processBuffer.count), count <= UInt32(NVML.maxProcesses) else {
                return .failure(Unavailable(description: describe(rc)))
            }
            // Room for the processes NVML counted, and some that start meanwhile.
            processBuffer = [nvmlProcessInfo_t](repeating: nvmlProcessInfo_t(), count: min(Int(count) + 16, NVML.maxProcesses))
        }
        return .failure(Unavailable(description: describe(NVML_ERROR_INSUFFICIENT_SIZE)))
    }

    static func process(_ p: nvmlProcessInfo_t) -> GPUProcess {
        GPUProcess(pid: Int32(bitPattern: p.pid), usedBytes: p.usedGpuMemory == CNVML_VALUE_NOT_AVAILABLE ? nil : p.usedGpuMemory)
    }

    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
