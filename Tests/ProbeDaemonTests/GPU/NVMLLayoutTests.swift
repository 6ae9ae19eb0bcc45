import CNVML
import Testing

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

    @Test func returnCodes_andConstants_matchTheHeader() {
        #expect(MemoryLayout<nvmlReturn_t>.size == 4 && MemoryLayout<nvmlDevice_t>.size == 8)
        #expect(NVML_SUCCESS == 0 && NVML_ERROR_NOT_SUPPORTED == 3 && NVML_ERROR_INSUFFICIENT_SIZE == 7)
        #expect(NVML_ERROR_DRIVER_NOT_LOADED == 9 && NVML_ERROR_LIBRARY_NOT_FOUND == 12 && NVML_ERROR_FUNCTION_NOT_FOUND == 13)
        #expect(NVML_ERROR_GPU_IS_LOST == 15 && NVML_ERROR_LIB_RM_VERSION_MISMATCH == 18 && NVML_ERROR_UNKNOWN == 999)
        #expect(NVML_TEMPERATURE_GPU == 0 && CNVML_VALUE_NOT_AVAILABLE == UInt64.max)
        // NVML_DEVICE_NAME_V2_BUFFER_SIZE is 96 and NVML_DEVICE_UUID_V2_BUFFER_SIZE 96: ours hold either.
        #expect(CNVML_NAME_BUFFER_SIZE >= 96 && CNVML_UUID_BUFFER_SIZE >= 96)
    }
}
