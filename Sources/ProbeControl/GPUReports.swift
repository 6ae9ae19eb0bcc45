/// `probectl gpu --json`: NVML's devices with their processes, or why there are none.
public struct GPUReport: Codable, Sendable {
    public var schemaVersion: Int
    /// Whether NVML loaded and initialised.
    public var available: Bool
    /// Why NVML is unavailable (library not found, not a library, or the error `nvmlInit` gave); nil when available.
    public var reason: String?
    /// The library file loaded.
    public var library: String?
    /// nvmlSystemGetDriverVersion, e.g. "580.95.05"; nil when unknown (or from a probed before it).
    public var driverVersion: String?
    /// The entry point used for per-process memory, e.g. `nvmlDeviceGetComputeRunningProcesses_v3`.
    public var processesFunction: String?
    /// Bytes per process entry the listing is read with: 24, 32 on drivers 535.43–535.86, 16 for v1.
    public var processesEntryBytes: Int?
    /// `nvmlDeviceGetMemoryInfo_v2`, or `nvmlDeviceGetMemoryInfo` on drivers before 510.
    public var memoryFunction: String?
    /// `nvmlDeviceGetCurrentClocksEventReasons`, or the older `nvmlDeviceGetCurrentClocksThrottleReasons`.
    public var clocksEventReasonsFunction: String?
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
    /// Memory allocated, without `memoryReservedBytes` (as nvidia-smi shows it); with it where
    /// `memoryReservedBytes` is nil (the v1 call of drivers before 510).
    public var memoryUsedBytes: UInt64?
    /// Memory the driver and firmware set aside.
    public var memoryReservedBytes: UInt64?
    public var memoryFreeBytes: UInt64?
    /// nil when the device does not report utilisation (NVML_ERROR_NOT_SUPPORTED) or the query failed.
    public var utilizationGpuPercent: UInt32?
    public var utilizationMemoryPercent: UInt32?
    public var temperatureCelsius: UInt32?
    public var powerWatts: Double?
    /// The streaming multiprocessors' clock now, MHz.
    public var smClockMhz: UInt32?
    /// Why the clocks are below their maximum now, NVML's reasons in snake case (`sw_power_cap`,
    /// `hw_thermal_slowdown`, …, `other`); empty: nothing holds them back; nil: not reported.
    public var clocksEventReasons: [String]?
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
