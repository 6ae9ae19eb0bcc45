import ProbeControl

/// Whether a stats row's timings waited for the device, and whether that matters: a process that
/// holds GPU memory (per NVML) runs device work, which is asynchronous, so a timer that does not
/// synchronise measures only the launch.
///
/// A row is `device_synchronized` when at least 99% of its calls since the series began carried
/// EventFlags.deviceSynchronized (`measure(sync:)`): one stray `record` does not flip it, a mix does.
/// Like the memory deltas, these are lifetime figures whatever the row's window.
struct DeviceSyncSummary {
    var calls: UInt64 = 0
    var synchronizedCalls: UInt64 = 0
    /// Processes of the row that hold GPU memory, with the bytes they hold.
    var gpuHolders: [(pid: Int32, bytes: UInt64)] = []

    mutating func add(_ s: Series, gpuBytes: UInt64?) {
        calls &+= s.calls
        synchronizedCalls &+= s.synchronizedCalls
        if let gpuBytes { gpuHolders.append((s.key.pid, gpuBytes)) }
    }

    var synchronized: Bool { calls > 0 && synchronizedCalls &* 100 >= calls &* 99 }

    var warnings: [String] {
        guard calls > 0, !synchronized, !gpuHolders.isEmpty else { return [] }
        let bytes = gpuHolders.reduce(UInt64(0)) { $0 &+ $1.bytes }
        let who = gpuHolders.count == 1 ? "process \(gpuHolders[0].pid) holds" : "\(gpuHolders.count) of its processes hold"
        let share = synchronizedCalls == 0 ? "no call was" : "only \(synchronizedCalls) of \(calls) calls were"
        return ["timings not device-synchronised: \(who) \(DeviceSyncSummary.mebibytes(bytes)) of GPU memory but \(share) measured with sync:, so durations likely count only the kernel launches"]
    }

    func write(to w: inout JSONWriter) {
        w.field("device_synchronized", synchronized)
        w.field("synchronized_calls", synchronizedCalls)
        w.beginArray("warnings")
        for line in warnings { w.element(line) }
        w.endArray()
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        let mib = (Double(bytes) / 1_048_576 * 10).rounded() / 10
        return "\(mib) MiB"
    }
}
