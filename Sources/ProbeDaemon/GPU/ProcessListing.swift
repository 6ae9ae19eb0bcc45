import CNVML

/// What NVML wrote for one device's process listing, decoded without trusting it: the layout
/// chosen from the function and the driver version, checked against the bytes NVML actually
/// wrote (the buffer is filled with `canary` before the call), and every entry checked for
/// plausibility. Drivers 535.43–535.86 fill `nvmlDeviceGetComputeRunningProcesses_v3` with
/// 32-byte entries where the header declares 24; read as 24, the second process turns into a
/// pid 0 holding as many bytes as the real pid's number, and the rest shift.
struct ProcessListing: Sendable {
    /// The byte the buffer is filled with before the call.
    static let canary: UInt8 = 0xA5
    /// PID_MAX_LIMIT of 64-bit Linux: no pid is larger.
    static let maxPid: UInt32 = 4_194_304
    /// The layouts a driver may write: nvmlProcessInfo_v1_t, nvmlProcessInfo_t (v2 and v3),
    /// nvmlProcessDetail_v1_t (v3 of drivers 535.43–535.86). pid and usedGpuMemory sit at the
    /// same offsets in all three.
    static let layouts = [
        MemoryLayout<nvmlProcessInfo_v1_t>.stride, MemoryLayout<nvmlProcessInfo_t>.stride, MemoryLayout<nvmlProcessDetail_v1_t>.stride,
    ]
    static let pidOffset = MemoryLayout<nvmlProcessInfo_t>.offset(of: \.pid)!
    static let memoryOffset = MemoryLayout<nvmlProcessInfo_t>.offset(of: \.usedGpuMemory)!

    /// The entries that passed, in NVML's order.
    var processes: [GPUProcess] = []
    /// Entries that cannot be right: pid 0 or above `maxPid`, or more memory than the device has.
    var rejected = 0
    /// The first rejected entry, for the note.
    var firstRejected: (pid: UInt32, bytes: UInt64)?
    var count: Int
    /// The layout the entries were read with, and the one the function and driver version imply.
    var entryBytes: Int
    var expectedEntryBytes: Int

    /// Bytes per entry that `function` (3: `_v3`, 2: `_v2`, 1: the unversioned v1 layout, 0:
    /// none) writes on a driver of version `driverVersion` ("535.54.03"): 32 for `_v3` on
    /// 535.43 to 535.86, otherwise what the header declares.
    static func entryBytes(function: Int, driverVersion: String?) -> Int {
        switch function {
        case 1: return layouts[0]
        case 2: return layouts[1]
        case 3:
            guard let (major, minor) = driverVersion.flatMap(versionNumbers), major == 535, (43...86).contains(minor) else { return layouts[1] }
            return layouts[2]
        default: return 0
        }
    }

    /// The first two numbers of a driver version ("535.54.03" → 535, 54); nil when it has none.
    static func versionNumbers(_ version: String) -> (Int, Int)? {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return (major, minor)
    }

    /// Decodes `count` entries from `raw` (the whole buffer NVML was given, filled with `canary`
    /// beforehand). Reads them with `expectedEntryBytes`, unless the bytes NVML wrote end exactly
    /// where `count` entries of another layout end, nothing past them was touched, and every
    /// entry of that layout is plausible: then NVML's answer does not match the declaration and
    /// that layout is what it wrote. `deviceTotalBytes` bounds a plausible entry's memory.
    init(_ raw: [UInt8], count: Int, expectedEntryBytes: Int, deviceTotalBytes: UInt64?) {
        self.count = count
        self.expectedEntryBytes = expectedEntryBytes
        entryBytes = expectedEntryBytes
        guard count > 0, expectedEntryBytes > 0, count * ProcessListing.layouts.max()! <= raw.count else {
            if count > 0 { rejected = count }
            return
        }
        let limit = deviceTotalBytes ?? (1 << 50)
        var end = raw.count
        while end > 0 && raw[end - 1] == ProcessListing.canary { end -= 1 }
        if end != count * expectedEntryBytes, let written = ProcessListing.layouts.first(where: { count * $0 == end }),
           ProcessListing.entries(raw, count: count, stride: written).allSatisfy({ ProcessListing.plausible($0, limit: limit) }) {
            entryBytes = written
        }
        for e in ProcessListing.entries(raw, count: count, stride: entryBytes) {
            if ProcessListing.plausible(e, limit: limit) {
                processes.append(GPUProcess(pid: Int32(e.pid), usedBytes: e.bytes == CNVML_VALUE_NOT_AVAILABLE ? nil : e.bytes))
            } else {
                rejected += 1
                if firstRejected == nil { firstRejected = e }
            }
        }
    }

    static func entries(_ raw: [UInt8], count: Int, stride: Int) -> [(pid: UInt32, bytes: UInt64)] {
        raw.withUnsafeBytes { b in
            (0..<count).map { i in
                (b.loadUnaligned(fromByteOffset: i * stride + pidOffset, as: UInt32.self),
                 b.loadUnaligned(fromByteOffset: i * stride + memoryOffset, as: UInt64.self))
            }
        }
    }

    /// A pid Linux can have, and memory not above the device's (or NVML_VALUE_NOT_AVAILABLE).
    static func plausible(_ e: (pid: UInt32, bytes: UInt64), limit: UInt64) -> Bool {
        e.pid > 0 && e.pid <= maxPid && (e.bytes == CNVML_VALUE_NOT_AVAILABLE || e.bytes <= limit)
    }

    /// Says that NVML wrote another layout than declared; nil when it wrote the declared one.
    func layoutNote(function: String, driverVersion: String?) -> String? {
        guard entryBytes != expectedEntryBytes else { return nil }
        return "driver \(driverVersion ?? "of unknown version") wrote \(entryBytes)-byte entries to \(function) where "
            + "\(expectedEntryBytes) were expected; read as \(entryBytes)-byte entries"
    }

    /// Says which entries were left out and why; nil when none were.
    var rejectionNote: String? {
        guard rejected > 0 else { return nil }
        let example = firstRejected.map { e in
            " (the first: pid \(e.pid) holding \(e.bytes == CNVML_VALUE_NOT_AVAILABLE ? "n/a" : String(e.bytes)) bytes)"
        } ?? ""
        return "ignored \(rejected) of \(count) process entries that cannot be right\(example): a pid of 0 or above "
            + "\(ProcessListing.maxPid), or more memory than the device has; read as \(entryBytes)-byte entries"
    }
}
