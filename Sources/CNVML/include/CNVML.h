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
#define NVML_ERROR_UNKNOWN 999

/// nvmlTemperatureSensors_t: NVML_TEMPERATURE_GPU is the GPU die.
typedef int nvmlTemperatureSensors_t;
#define NVML_TEMPERATURE_GPU 0

/// Buffer sizes for nvmlDeviceGetName (v2 size, which also covers v1's 64) and nvmlDeviceGetUUID.
#define CNVML_NAME_BUFFER_SIZE 96
#define CNVML_UUID_BUFFER_SIZE 96

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
typedef nvmlReturn_t (*cnvml_device_get_processes_fn)(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos);
typedef nvmlReturn_t (*cnvml_device_get_processes_v1_fn)(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_v1_t *infos);

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
    cnvml_device_get_memory_info_fn device_get_memory_info;
    cnvml_device_get_utilization_rates_fn device_get_utilization_rates;
    cnvml_device_get_temperature_fn device_get_temperature;
    cnvml_device_get_power_usage_fn device_get_power_usage;
    /// nvmlDeviceGetComputeRunningProcesses_v3, else _v2 (same nvmlProcessInfo_t layout).
    cnvml_device_get_processes_fn device_get_processes;
    /// nvmlDeviceGetComputeRunningProcesses (v1 layout), used only when neither _v3 nor _v2 exists.
    cnvml_device_get_processes_v1_fn device_get_processes_v1;
    const char *init_symbol;
    const char *count_symbol;
    const char *handle_symbol;
    const char *processes_symbol;
} cnvml_library;

/// dlopen(path, RTLD_NOW | RTLD_LOCAL), then dlsym of every entry point, versioned names first.
/// Returns 0 on success. On failure returns -1, closes what it opened, and writes why into
/// `message` (dlerror's text, or the required symbol that is missing).
int cnvml_open(const char *path, cnvml_library *library, char *message, size_t length);

/// dlclose of a library opened by cnvml_open.
void cnvml_close(cnvml_library *library);

#endif
