/// `probectl gpu --json`: NVML's devices with their processes, or why there are none.
public struct GPUReport: Codable, Sendable {
    public var schemaVersion: Int
    /// Whether NVML loaded and initialised.
    public var available: Bool
    /// Why NVML is unavailable (library not found, not a library, or the error `nvmlInit` gave); nil when available.
    public var reason: String?
    /// The library file loaded.
    public var library: String?
    /// The entry point used for per-process memory, e.g. `nvmlDeviceGetComputeRunningProcesses_v3`.
    public var processesFunction: String?
    public var sampleIntervalNs: UInt64
    public var sampleAgeNs: UInt64?
    /// Why the device count could not be read, if it could not.
    public var error: String?
    public var devices: [GPUDeviceRow]
}

public struct GPUDeviceRow: Codable, Sendable, Equatable {
    public var index: Int
    public var name: String?
    public var uuid: String?
    public var memoryTotalBytes: UInt64?
    public var memoryUsedBytes: UInt64?
    public var memoryFreeBytes: UInt64?
    /// nil when the device does not report utilisation (NVML_ERROR_NOT_SUPPORTED) or the query failed.
    public var utilizationGpuPercent: UInt32?
    public var utilizationMemoryPercent: UInt32?
    public var temperatureCelsius: UInt32?
    public var powerWatts: Double?
    /// Query name (`memory`, `utilization`, `temperature`, `power`, `processes`, …) to NVML's error.
    public var errors: [String: String]
    /// nil when NVML could not list them.
    public var processes: [GPUProcessRow]?
}

public struct GPUProcessRow: Codable, Sendable, Equatable {
    public var pid: Int
    /// The client service of that pid; nil when the process is not a probe client.
    public var service: String?
    /// nil when NVML does not report it (NVML_VALUE_NOT_AVAILABLE).
    public var memoryUsedBytes: UInt64?
}
