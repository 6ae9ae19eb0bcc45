import CNVML

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

    /// True when every device listed all its processes, so a client absent from them holds no
    /// device memory (a device whose listing failed, or that gave entries probed rejected, may
    /// hold one it did not show).
    public var processesComplete: Bool {
        countError == nil && devices.allSatisfy { $0.processes != nil && $0.processesRejected == 0 }
    }

    /// Every pid some device lists, with its device memory summed over the devices; the bytes are
    /// nil when NVML withheld the figure on any of them (NVML_VALUE_NOT_AVAILABLE): the process
    /// holds device memory, how much is unknown — never counted as 0.
    public var holdings: [Int32: GPUHolding] {
        var out: [Int32: GPUHolding] = [:]
        for d in devices {
            for p in d.processes ?? [] {
                let sum = out[p.pid].map { held in held.bytes.flatMap { a in p.usedBytes.map { a &+ $0 } } } ?? p.usedBytes
                out[p.pid] = GPUHolding(bytes: sum)
            }
        }
        return out
    }
}

/// A process's device memory over the devices that list it; `bytes` nil: NVML does not say how much.
public struct GPUHolding: Sendable, Equatable {
    public var bytes: UInt64?
    public init(bytes: UInt64?) { self.bytes = bytes }
}

public struct GPUDevice: Sendable, Equatable {
    public var index: Int
    public var name: String?
    public var uuid: String?
    public var memoryTotalBytes: UInt64?
    /// Memory allocated on the device: nvmlDeviceGetMemoryInfo_v2's `used`, which leaves out
    /// `memoryReservedBytes` (as nvidia-smi does); from the v1 call (a driver before 510), which
    /// counts reserved memory as used, when `memoryReservedBytes` is nil.
    public var memoryUsedBytes: UInt64?
    /// Memory the driver and firmware set aside (nvmlDeviceGetMemoryInfo_v2 only).
    public var memoryReservedBytes: UInt64?
    public var memoryFreeBytes: UInt64?
    public var utilizationGPUPercent: UInt32?
    public var utilizationMemoryPercent: UInt32?
    public var temperatureCelsius: UInt32?
    /// nvmlDeviceGetPowerUsage reports milliwatts.
    public var powerMilliwatts: UInt32?
    /// nvmlDeviceGetClockInfo(NVML_CLOCK_SM), in MHz.
    public var smClockMHz: UInt32?
    /// nvmlDeviceGetCurrentClocksEventReasons' mask (`GPUClocksEventReason` names its bits).
    public var clocksEventReasons: UInt64?
    /// Compute processes on the device; nil when NVML could not list them.
    public var processes: [GPUProcess]?
    /// Entries of the listing that cannot be right (pid 0, or more memory than the device has),
    /// left out of `processes`; why is in `errors["processes"]`.
    public var processesRejected = 0
    /// Query name (`name`, `uuid`, `memory`, `memory_v2`, `utilization`, `temperature`, `power`,
    /// `sm_clock`, `clocks_event_reasons`, `processes`, `processes_layout`, `handle`) to the
    /// error NVML gave for it, or to what was wrong with its answer.
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

/// The clocks-event (throttle) reasons NVML reports, by bit: why the clocks are below their
/// maximum now. Names are NVML's (nvmlClocksThrottleReason…), in snake case.
enum GPUClocksEventReason {
    static let all: [(name: String, bit: UInt64)] = [
        ("gpu_idle", nvmlClocksThrottleReasonGpuIdle),
        ("applications_clocks_setting", nvmlClocksThrottleReasonApplicationsClocksSetting),
        ("sw_power_cap", nvmlClocksThrottleReasonSwPowerCap),
        ("hw_slowdown", nvmlClocksThrottleReasonHwSlowdown),
        ("sync_boost", nvmlClocksThrottleReasonSyncBoost),
        ("sw_thermal_slowdown", nvmlClocksThrottleReasonSwThermalSlowdown),
        ("hw_thermal_slowdown", nvmlClocksThrottleReasonHwThermalSlowdown),
        ("hw_power_brake_slowdown", nvmlClocksThrottleReasonHwPowerBrakeSlowdown),
        ("display_clock_setting", nvmlClocksThrottleReasonDisplayClockSetting),
    ]
    /// Bits NVML may set that have no name above (nvmlClocksThrottleReasonUnknown is bit 63).
    static let other: UInt64 = ~all.reduce(0) { $0 | $1.bit }

    /// The names of the bits set in `mask`, in the order above, then `other` for any bit not named.
    static func names(_ mask: UInt64) -> [String] {
        all.filter { mask & $0.bit != 0 }.map(\.name) + (mask & other != 0 ? ["other"] : [])
    }
}
