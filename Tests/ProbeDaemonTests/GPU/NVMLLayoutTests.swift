import CNVML
import Testing
@testable import ProbeDaemon

/// Our NVML declarations (Sources/CNVML) must match NVIDIA's official nvml.h byte for byte, or
/// the driver writes figures into the wrong fields. The expected numbers were read from
/// nvml.h of nvidia-nvml-dev-cu12 12.9.79 (PyPI) with sizeof/offsetof on x86_64 Linux; CNVML.c
/// also checks them with static asserts at compile time.
@Suite struct NVMLLayoutTests {
    @Test func memory_isTotalFreeUsed_24Bytes() {
        #expect(MemoryLayout<nvmlMemory_t>.size == 24 && MemoryLayout<nvmlMemory_t>.alignment == 8)
        #expect(MemoryLayout<nvmlMemory_t>.offset(of: \.total) == 0)
        #expect(MemoryLayout<nvmlMemory_t>.offset(of: \.free) == 8)
        #expect(MemoryLayout<nvmlMemory_t>.offset(of: \.used) == 16)
    }

    @Test func utilization_isGpuMemory_8Bytes() {
        #expect(MemoryLayout<nvmlUtilization_t>.size == 8)
        #expect(MemoryLayout<nvmlUtilization_t>.offset(of: \.gpu) == 0)
        #expect(MemoryLayout<nvmlUtilization_t>.offset(of: \.memory) == 4)
    }

    @Test func processInfo_v2Layout_is24Bytes_withPaddingAfterPid() {
        #expect(MemoryLayout<nvmlProcessInfo_t>.size == 24 && MemoryLayout<nvmlProcessInfo_t>.stride == 24)
        #expect(MemoryLayout<nvmlProcessInfo_t>.offset(of: \.pid) == 0)
        #expect(MemoryLayout<nvmlProcessInfo_t>.offset(of: \.usedGpuMemory) == 8)
        #expect(MemoryLayout<nvmlProcessInfo_t>.offset(of: \.gpuInstanceId) == 16)
        #expect(MemoryLayout<nvmlProcessInfo_t>.offset(of: \.computeInstanceId) == 20)
    }

    @Test func processInfo_v1Layout_is16Bytes() {
        #expect(MemoryLayout<nvmlProcessInfo_v1_t>.size == 16 && MemoryLayout<nvmlProcessInfo_v1_t>.stride == 16)
        #expect(MemoryLayout<nvmlProcessInfo_v1_t>.offset(of: \.pid) == 0)
        #expect(MemoryLayout<nvmlProcessInfo_v1_t>.offset(of: \.usedGpuMemory) == 8)
    }

    @Test func memory_v2Layout_isVersionTotalReservedFreeUsed_40Bytes_andItsVersionWord() {
        #expect(MemoryLayout<nvmlMemory_v2_t>.size == 40 && MemoryLayout<nvmlMemory_v2_t>.stride == 40)
        #expect(MemoryLayout<nvmlMemory_v2_t>.offset(of: \.version) == 0)
        #expect(MemoryLayout<nvmlMemory_v2_t>.offset(of: \.total) == 8)
        #expect(MemoryLayout<nvmlMemory_v2_t>.offset(of: \.reserved) == 16)
        #expect(MemoryLayout<nvmlMemory_v2_t>.offset(of: \.free) == 24)
        #expect(MemoryLayout<nvmlMemory_v2_t>.offset(of: \.used) == 32)
        // nvmlMemory_v2 = NVML_STRUCT_VERSION(Memory, 2) = sizeof | 2 << 24.
        #expect(CNVML_MEMORY_V2_VERSION == UInt32(MemoryLayout<nvmlMemory_v2_t>.size) | 2 << 24)
    }

    /// The 32-byte entry drivers 535.43–535.86 write into _v3 buffers (nvmlProcessDetail_v1_t).
    @Test func processDetail_layout_is32Bytes_withTheProtectedMemoryLast() {
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.size == 32 && MemoryLayout<nvmlProcessDetail_v1_t>.stride == 32)
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.offset(of: \.pid) == 0)
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.offset(of: \.usedGpuMemory) == 8)
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.offset(of: \.gpuInstanceId) == 16)
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.offset(of: \.computeInstanceId) == 20)
        #expect(MemoryLayout<nvmlProcessDetail_v1_t>.offset(of: \.usedGpuCcProtectedMemory) == 24)
        #expect(CNVML_PROCESS_ENTRY_MAX_BYTES == 32)
    }

    @Test func clocks_andTheirReasons_matchTheHeader() {
        #expect(MemoryLayout<nvmlClockType_t>.size == 4)
        #expect(NVML_CLOCK_GRAPHICS == 0 && NVML_CLOCK_SM == 1 && NVML_CLOCK_MEM == 2 && NVML_CLOCK_VIDEO == 3)
        #expect(nvmlClocksThrottleReasonGpuIdle == 0x1 && nvmlClocksThrottleReasonApplicationsClocksSetting == 0x2)
        #expect(nvmlClocksThrottleReasonSwPowerCap == 0x4 && nvmlClocksThrottleReasonHwSlowdown == 0x8)
        #expect(nvmlClocksThrottleReasonSyncBoost == 0x10 && nvmlClocksThrottleReasonSwThermalSlowdown == 0x20)
        #expect(nvmlClocksThrottleReasonHwThermalSlowdown == 0x40 && nvmlClocksThrottleReasonHwPowerBrakeSlowdown == 0x80)
        #expect(nvmlClocksThrottleReasonDisplayClockSetting == 0x100)
        // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE.
        #expect(CNVML_DRIVER_VERSION_BUFFER_SIZE == 80)
    }

    @Test func returnCodes_andConstants_matchTheHeader() {
        #expect(MemoryLayout<nvmlReturn_t>.size == 4 && MemoryLayout<nvmlDevice_t>.size == 8)
        #expect(NVML_SUCCESS == 0 && NVML_ERROR_NOT_SUPPORTED == 3 && NVML_ERROR_INSUFFICIENT_SIZE == 7)
        #expect(NVML_ERROR_DRIVER_NOT_LOADED == 9 && NVML_ERROR_LIBRARY_NOT_FOUND == 12 && NVML_ERROR_FUNCTION_NOT_FOUND == 13)
        #expect(NVML_ERROR_GPU_IS_LOST == 15 && NVML_ERROR_LIB_RM_VERSION_MISMATCH == 18 && NVML_ERROR_UNKNOWN == 999)
        #expect(NVML_ERROR_ARGUMENT_VERSION_MISMATCH == 25)
        #expect(NVML_TEMPERATURE_GPU == 0 && CNVML_VALUE_NOT_AVAILABLE == UInt64.max)
        // NVML_DEVICE_NAME_V2_BUFFER_SIZE is 96 and NVML_DEVICE_UUID_V2_BUFFER_SIZE 96: ours hold either.
        #expect(CNVML_NAME_BUFFER_SIZE >= 96 && CNVML_UUID_BUFFER_SIZE >= 96)
    }
}

/// Issue 17.2: NVML answers that do not match our declarations. Each input is the bytes a driver
/// writes, byte for byte; the listing must come out right or say why it cannot.
@Suite struct ProcessListingTests {
    static let GiB: UInt64 = 1 << 30

    /// A buffer as NVML leaves it: `room` entries of 32 bytes filled with the canary, then
    /// `entries` written at `stride` bytes, field by field (padding and absent fields untouched).
    static func buffer(_ entries: [(pid: UInt32, bytes: UInt64)], stride: Int, room: Int = 64) -> [UInt8] {
        var raw = [UInt8](repeating: ProcessListing.canary, count: room * 32)
        for (i, e) in entries.enumerated() {
            let at = i * stride
            withUnsafeBytes(of: e.pid.littleEndian) { raw.replaceSubrange(at..<at + 4, with: $0) }
            raw.replaceSubrange(at + 4..<at + 8, with: repeatElement(0, count: 4))  // padding, as drivers clear it
            withUnsafeBytes(of: e.bytes.littleEndian) { raw.replaceSubrange(at + 8..<at + 16, with: $0) }
            if stride >= 24 { raw.replaceSubrange(at + 16..<at + 24, with: repeatElement(0xFF, count: 8)) }  // no MIG
            if stride >= 32 { raw.replaceSubrange(at + 24..<at + 32, with: repeatElement(0, count: 8)) }
        }
        return raw
    }

    @Test(arguments: [
        ("535.43.02", 32), ("535.54.03", 32), ("535.86.10", 32), ("535.86.05", 32), ("535.42.01", 24), ("535.104.05", 24),
        ("535.183.01", 24), ("530.30.02", 24), ("550.54.15", 24), ("580.95.05", 24), ("535", 24), ("", 24), ("garbage", 24),
    ])
    func v3EntryBytes_comeFromTheDriverVersion(version: String, bytes: Int) {
        #expect(ProcessListing.entryBytes(function: 3, driverVersion: version) == bytes, "\(version)")
    }

    @Test func otherFunctions_andAnUnknownVersion_useTheHeadersLayout() {
        #expect(ProcessListing.entryBytes(function: 3, driverVersion: nil) == 24)
        #expect(ProcessListing.entryBytes(function: 2, driverVersion: "535.54.03") == 24)
        #expect(ProcessListing.entryBytes(function: 1, driverVersion: "535.54.03") == 16)
        #expect(ProcessListing.entryBytes(function: 0, driverVersion: nil) == 0)
    }

    /// The input: two clients holding 1 GiB and 2 GiB on a 535.54 driver.
    @Test func driver535_54_writing32ByteEntries_givesBothClients() {
        let raw = Self.buffer([(4242, Self.GiB), (4343, 2 * Self.GiB)], stride: 32)
        // Read as the header declares (what probed did): a pid 0 and a lost client.
        let naive = ProcessListing.entries(raw, count: 2, stride: 24)
        #expect(naive[1].pid == 0 && naive[1].bytes == 4343, "the fault as reported")
        // Chosen from the driver version.
        let chosen = ProcessListing(raw, count: 2, expectedEntryBytes: ProcessListing.entryBytes(function: 3, driverVersion: "535.54.03"),
                                    deviceTotalBytes: 80 * Self.GiB)
        #expect(chosen.processes == [GPUProcess(pid: 4242, usedBytes: Self.GiB), GPUProcess(pid: 4343, usedBytes: 2 * Self.GiB)])
        #expect(chosen.rejected == 0 && chosen.entryBytes == 32 && chosen.layoutNote(function: "f", driverVersion: "535.54.03") == nil)
        // A driver that writes 32 where its version says 24: the written bytes tell, and it is said.
        let detected = ProcessListing(raw, count: 2, expectedEntryBytes: 24, deviceTotalBytes: 80 * Self.GiB)
        #expect(detected.processes == chosen.processes && detected.entryBytes == 32)
        #expect(detected.layoutNote(function: "nvmlDeviceGetComputeRunningProcesses_v3", driverVersion: "550.1") ==
                "driver 550.1 wrote 32-byte entries to nvmlDeviceGetComputeRunningProcesses_v3 where 24 were expected; read as 32-byte entries")
    }

    /// The other way round: a version in the 535.43–535.86 range whose driver writes 24 bytes.
    @Test func expected32_butWritten24_isReadAs24() {
        let raw = Self.buffer([(10, Self.GiB), (11, 2 * Self.GiB), (12, 3 * Self.GiB)], stride: 24)
        let l = ProcessListing(raw, count: 3, expectedEntryBytes: 32, deviceTotalBytes: 80 * Self.GiB)
        #expect(l.entryBytes == 24 && l.processes.map(\.pid) == [10, 11, 12] && l.processes.map(\.usedBytes) == [Self.GiB, 2 * Self.GiB, 3 * Self.GiB])
    }

    @Test(arguments: [16, 24, 32])
    func eachLayout_readAsItself_isExact(stride: Int) {
        let entries: [(pid: UInt32, bytes: UInt64)] = [(1, 0), (4_194_304, 80 * Self.GiB), (77, CNVML_VALUE_NOT_AVAILABLE)]
        let l = ProcessListing(Self.buffer(entries, stride: stride), count: 3, expectedEntryBytes: stride, deviceTotalBytes: 80 * Self.GiB)
        #expect(l.entryBytes == stride && l.rejected == 0)
        #expect(l.processes == [GPUProcess(pid: 1, usedBytes: 0), GPUProcess(pid: 4_194_304, usedBytes: 80 * Self.GiB), GPUProcess(pid: 77, usedBytes: nil)])
    }

    /// Entries that cannot be right are left out and counted, whatever produced them.
    @Test func implausibleEntries_areRejected_andSaidWhy() {
        let raw = Self.buffer([(0, Self.GiB), (4_194_305, Self.GiB), (55, 81 * Self.GiB), (56, Self.GiB)], stride: 24)
        let l = ProcessListing(raw, count: 4, expectedEntryBytes: 24, deviceTotalBytes: 80 * Self.GiB)
        #expect(l.processes == [GPUProcess(pid: 56, usedBytes: Self.GiB)] && l.rejected == 3)
        #expect(l.rejectionNote?.hasPrefix("ignored 3 of 4 process entries that cannot be right (the first: pid 0 holding 1073741824 bytes)") == true)
        // Without the device's total, only memory beyond any device (1 PiB) is implausible.
        #expect(ProcessListing(raw, count: 4, expectedEntryBytes: 24, deviceTotalBytes: nil).rejected == 2)
    }

    /// Whatever bytes a library writes, decoding never traps, every entry is either kept (and
    /// plausible) or rejected, and the layout read is one of the three.
    @Test func anyBytes_decodeToPlausibleEntriesOrRejections() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        for _ in 0..<2_000 {
            let room = 1 + Int(next() % 8), count = Int(next() % UInt64(room + 1))
            var raw = [UInt8](repeating: ProcessListing.canary, count: room * 32)
            let written = Int(next() % UInt64(raw.count + 1))
            for i in 0..<written { raw[i] = next() % 4 == 0 ? 0 : UInt8(truncatingIfNeeded: next()) }
            let expected = ProcessListing.layouts[Int(next() % 3)]
            let l = ProcessListing(raw, count: count, expectedEntryBytes: expected, deviceTotalBytes: next() % 2 == 0 ? nil : next() >> 20)
            #expect(l.processes.count + l.rejected == count && ProcessListing.layouts.contains(l.entryBytes))
            #expect(l.processes.allSatisfy { $0.pid > 0 && UInt32($0.pid) <= ProcessListing.maxPid })
        }
    }

    /// A driver that clears more than its entries (the whole buffer) gives no layout evidence:
    /// the expected layout stands, and plausibility still guards it.
    @Test func driverThatClearsTheBuffer_keepsTheExpectedLayout() {
        var raw = [UInt8](repeating: 0, count: 64 * 32)
        let written = Self.buffer([(9, Self.GiB), (10, Self.GiB)], stride: 24)
        raw.replaceSubrange(0..<48, with: written[0..<48])
        let l = ProcessListing(raw, count: 2, expectedEntryBytes: 24, deviceTotalBytes: nil)
        #expect(l.entryBytes == 24 && l.processes.map(\.pid) == [9, 10] && l.rejected == 0)
        #expect(ProcessListing(raw, count: 0, expectedEntryBytes: 24, deviceTotalBytes: nil).processes.isEmpty)
    }
}
