#ifndef CNVML_H
#define CNVML_H
// Our own declarations of the small subset of NVIDIA's management library (NVML) that probed
// uses, written from the documented ABI (as tools such as btop do): no NVIDIA header or library
// is needed to build. Layouts are pinned to the official nvml.h (nvidia-nvml-dev 12.9.79) by
// static asserts in CNVML.c and by NVMLLayoutTests. The library itself is loaded at run time.

#include <stddef.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_LIBRARY_NOT_FOUND 12
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH 18
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999

/// nvmlTemperatureSensors_t: NVML_TEMPERATURE_GPU is the GPU die.
typedef int nvmlTemperatureSensors_t;
#define NVML_TEMPERATURE_GPU 0

/// nvmlClockType_t: NVML_CLOCK_SM is the streaming multiprocessors' clock.
typedef int nvmlClockType_t;
#define NVML_CLOCK_GRAPHICS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_CLOCK_VIDEO 3

/// The bits of nvmlDeviceGetCurrentClocksEventReasons' mask (and of the older
/// nvmlDeviceGetCurrentClocksThrottleReasons, same values): why the clocks are below their
/// maximum now. Named as every nvml.h names them (newer headers add nvmlClocksEventReason…
/// aliases for some).
#define nvmlClocksThrottleReasonGpuIdle 0x0000000000000001ULL
#define nvmlClocksThrottleReasonApplicationsClocksSetting 0x0000000000000002ULL
#define nvmlClocksThrottleReasonSwPowerCap 0x0000000000000004ULL
#define nvmlClocksThrottleReasonHwSlowdown 0x0000000000000008ULL
#define nvmlClocksThrottleReasonSyncBoost 0x0000000000000010ULL
#define nvmlClocksThrottleReasonSwThermalSlowdown 0x0000000000000020ULL
#define nvmlClocksThrottleReasonHwThermalSlowdown 0x0000000000000040ULL
#define nvmlClocksThrottleReasonHwPowerBrakeSlowdown 0x0000000000000080ULL
#define nvmlClocksThrottleReasonDisplayClockSetting 0x0000000000000100ULL

/// Buffer sizes for nvmlDeviceGetName (v2 size, which also covers v1's 64) and nvmlDeviceGetUUID.
#define CNVML_NAME_BUFFER_SIZE 96
#define CNVML_UUID_BUFFER_SIZE 96
/// NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE, for nvmlSystemGetDriverVersion.
#define CNVML_DRIVER_VERSION_BUFFER_SIZE 80

/// NVML_VALUE_NOT_AVAILABLE: an unsigned long long field holding (unsigned long long)-1.
#define CNVML_VALUE_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

/// Opaque device handle (nvmlDevice_t).
typedef struct nvmlDevice_st *nvmlDevice_t;

/// nvmlMemory_t (v1): bytes. 24 bytes.
typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

/// nvmlMemory_v2_t, filled by nvmlDeviceGetMemoryInfo_v2: `used` no longer counts `reserved`
/// (memory the driver and firmware set aside), so it matches nvidia-smi. 40 bytes.
typedef struct {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

/// nvmlMemory_v2: NVML_STRUCT_VERSION(Memory, 2), sizeof(nvmlMemory_v2_t) | 2 << 24, the value
/// the caller puts in `version` (CNVML.c checks it against the struct).
#define CNVML_MEMORY_V2_VERSION 0x02000028u

/// nvmlUtilization_t: percent over the last sample period. 8 bytes.
typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

/// nvmlProcessInfo_t (= nvmlProcessInfo_v2_t), filled by ..._v3 and ..._v2. 24 bytes.
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

/// nvmlProcessInfo_v1_t, filled by the unversioned nvmlDeviceGetComputeRunningProcesses. 16 bytes.
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

/// nvmlProcessDetail_v1_t: nvmlProcessInfo_t plus usedGpuCcProtectedMemory. 32 bytes. Drivers
/// 535.43 to 535.86 shipped a header whose nvmlProcessInfo_t had this layout and fill
/// nvmlDeviceGetComputeRunningProcesses_v3's buffer with it, where every other driver writes
/// the 24-byte nvmlProcessInfo_t: probed chooses by nvmlSystemGetDriverVersion (NVML.swift).
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessDetail_v1_t;

/// The largest process entry any driver writes: buffers are sized for it, whatever layout is read.
#define CNVML_PROCESS_ENTRY_MAX_BYTES 32

typedef nvmlReturn_t (*cnvml_init_fn)(void);
typedef nvmlReturn_t (*cnvml_shutdown_fn)(void);
typedef const char *(*cnvml_error_string_fn)(nvmlReturn_t);
typedef nvmlReturn_t (*cnvml_device_get_count_fn)(unsigned int *count);
typedef nvmlReturn_t (*cnvml_device_get_handle_by_index_fn)(unsigned int index, nvmlDevice_t *device);
typedef nvmlReturn_t (*cnvml_device_get_string_fn)(nvmlDevice_t device, char *buffer, unsigned int length);
typedef nvmlReturn_t (*cnvml_device_get_memory_info_fn)(nvmlDevice_t device, nvmlMemory_t *memory);
typedef nvmlReturn_t (*cnvml_device_get_utilization_rates_fn)(nvmlDevice_t device, nvmlUtilization_t *utilization);
typedef nvmlReturn_t (*cnvml_device_get_temperature_fn)(nvmlDevice_t device, nvmlTemperatureSensors_t sensor, unsigned int *celsius);
typedef nvmlReturn_t (*cnvml_device_get_power_usage_fn)(nvmlDevice_t device, unsigned int *milliwatts);
typedef nvmlReturn_t (*cnvml_device_get_memory_info_v2_fn)(nvmlDevice_t device, nvmlMemory_v2_t *memory);
typedef nvmlReturn_t (*cnvml_device_get_clock_info_fn)(nvmlDevice_t device, nvmlClockType_t type, unsigned int *mhz);
typedef nvmlReturn_t (*cnvml_device_get_clocks_event_reasons_fn)(nvmlDevice_t device, unsigned long long *reasons);
typedef nvmlReturn_t (*cnvml_system_get_driver_version_fn)(char *version, unsigned int length);
/// Any of the process-listing functions: `infos` is raw memory of *count entries of the largest
/// layout (CNVML_PROCESS_ENTRY_MAX_BYTES each); which layout the library writes, the caller decides.
typedef nvmlReturn_t (*cnvml_device_get_processes_fn)(nvmlDevice_t device, unsigned int *count, void *infos);

/// The entry points resolved from one loaded library. A NULL pointer: the library lacks it.
/// The `*_symbol` strings name what was resolved (versioned names first, then the fallbacks).
typedef struct {
    void *handle;
    cnvml_init_fn initialize;
    cnvml_shutdown_fn shutdown;
    cnvml_error_string_fn error_string;
    cnvml_device_get_count_fn device_get_count;
    cnvml_device_get_handle_by_index_fn device_get_handle_by_index;
    cnvml_device_get_string_fn device_get_name;
    cnvml_device_get_string_fn device_get_uuid;
    /// nvmlDeviceGetMemoryInfo (v1: `used` includes reserved memory).
    cnvml_device_get_memory_info_fn device_get_memory_info;
    /// nvmlDeviceGetMemoryInfo_v2 (drivers from 510), preferred where present.
    cnvml_device_get_memory_info_v2_fn device_get_memory_info_v2;
    cnvml_device_get_utilization_rates_fn device_get_utilization_rates;
    cnvml_device_get_temperature_fn device_get_temperature;
    cnvml_device_get_power_usage_fn device_get_power_usage;
    /// nvmlDeviceGetClockInfo.
    cnvml_device_get_clock_info_fn device_get_clock_info;
    /// nvmlDeviceGetCurrentClocksEventReasons, else nvmlDeviceGetCurrentClocksThrottleReasons.
    cnvml_device_get_clocks_event_reasons_fn device_get_clocks_event_reasons;
    /// nvmlSystemGetDriverVersion.
    cnvml_system_get_driver_version_fn system_get_driver_version;
    /// nvmlDeviceGetComputeRunningProcesses_v3, else _v2, else the unversioned function.
    cnvml_device_get_processes_fn device_get_processes;
    /// Which one `device_get_processes` is: 3, 2 or 1 (the v1 layout); 0 when none.
    int processes_version;
    const char *init_symbol;
    const char *count_symbol;
    const char *handle_symbol;
    const char *processes_symbol;
    const char *memory_symbol;
    const char *clocks_event_reasons_symbol;
} cnvml_library;

/// dlopen(path, RTLD_NOW | RTLD_LOCAL), then dlsym of every entry point, versioned names first.
/// Returns 0 on success. On failure returns -1, closes what it opened, and writes why into
/// `message` (dlerror's text, or the required symbol that is missing).
int cnvml_open(const char *path, cnvml_library *library, char *message, size_t length);

/// dlclose of a library opened by cnvml_open.
void cnvml_close(cnvml_library *library);

#endif
