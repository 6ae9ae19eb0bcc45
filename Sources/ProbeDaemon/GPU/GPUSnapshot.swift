/// One round of NVML readings: every device with its figures and the processes on it. A figure
/// NVML could not give is nil, and why is in `errors` under the query's name; the other figures
/// of the same device stand.
public struct GPUSnapshot: Sendable, Equatable {
    /// Daemon clock (monotonic ns) when the round was taken.
    public var time: UInt64 = 0
    public var devices: [GPUDevice] = []
    /// Why the device count could not be read (then `devices` is empty); nil when it was.
    public var countError: String?
    public init(time: UInt64 = 0, devices: [GPUDevice] = [], countError: String? = nil) {
        self.time = time
        self.devices = devices
        self.countError = countError
    }

    /// True when every device listed its processes, so a client absent from them holds no device memory.
    public var processesComplete: Bool { countError == nil && devices.allSatisfy { $0.processes != nil } }

    /// Device memory per pid, summed over the devices (processes whose figure NVML withheld count 0).
    public var memoryByPid: [Int32: UInt64] {
        var out: [Int32: UInt64] = [:]
        for d in devices {
            for p in d.processes ?? [] { out[p.pid, default: 0] &+= p.usedBytes ?? 0 }
        }
        return out
    }
}

public struct GPUDevice: Sendable, Equatable {
    public var index: Int
    public var name: String?
    public var uuid: String?
    public var memoryTotalBytes: UInt64?
    public var memoryUsedBytes: UInt64?
    public var memoryFreeBytes: UInt64?
    public var utilizationGPUPercent: UInt32?
    public var utilizationMemoryPercent: UInt32?
    public var temperatureCelsius: UInt32?
    /// nvmlDeviceGetPowerUsage reports milliwatts.
    public var powerMilliwatts: UInt32?
    /// Compute processes on the device; nil when NVML could not list them.
    public var processes: [GPUProcess]?
    /// Query name (`name`, `uuid`, `memory`, `utilization`, `temperature`, `power`, `processes`,
    /// `handle`) to the error NVML gave for it.
    public var errors: [String: String] = [:]

    public init(index: Int) { self.index = index }
}

public struct GPUProcess: Sendable, Equatable {
    public var pid: Int32
    /// Device memory the process holds; nil when NVML reports it as not available.
    public var usedBytes: UInt64?
    public init(pid: Int32, usedBytes: UInt64?) {
        self.pid = pid
        self.usedBytes = usedBytes
    }
}
