import ProbeWire

/// Whether a stats row's timings waited for the device, and whether that matters: a process that
/// holds GPU memory (per NVML) runs device work, which is asynchronous, so a timer that does not
/// synchronise measures only the launch.
///
/// A row is `device_synchronized` when at least 99% of its calls since the series began carried
/// EventFlags.deviceSynchronized (`measure(sync:)`): one stray `record` does not flip it, a mix does.
/// Like the memory deltas, these are lifetime figures whatever the row's window.
struct DeviceSyncSummary: Sendable {
    var calls: UInt64 = 0
    var synchronizedCalls: UInt64 = 0
    /// Processes of the row that hold GPU memory, with the bytes they hold (nil: NVML does not say).
    var gpuHolders: [(pid: Int32, bytes: UInt64?)] = []

    /// Adds series `s`, whose process holds device memory (`gpu`; nil: none, or no NVML).
    /// A series declared `no_device_work` (DEFINE flags) is never a reason to warn.
    mutating func add(_ s: Series, gpu: GPUHolding?) {
        calls &+= s.calls
        synchronizedCalls &+= s.synchronizedCalls
        if let gpu, !s.flags.contains(.noDeviceWork) { gpuHolders.append((s.key.pid, gpu.bytes)) }
    }

    /// In 128 bits: `calls × 99` wraps 64 bits past 1.8 × 10^17 calls.
    var synchronized: Bool { calls > 0 && UInt128(synchronizedCalls) * 100 >= UInt128(calls) * 99 }
}
