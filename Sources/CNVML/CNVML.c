#include "CNVML.h"
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

// The layouts NVIDIA's nvml.h (nvidia-nvml-dev-cu12 12.9.79, x86_64/aarch64 LP64) defines.
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t is 24 bytes");
_Static_assert(offsetof(nvmlMemory_t, total) == 0 && offsetof(nvmlMemory_t, free) == 8 && offsetof(nvmlMemory_t, used) == 16,
               "nvmlMemory_t is total, free, used");
_Static_assert(sizeof(nvmlUtilization_t) == 8 && offsetof(nvmlUtilization_t, memory) == 4, "nvmlUtilization_t is gpu, memory");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t (v2) is 24 bytes");
_Static_assert(offsetof(nvmlProcessInfo_t, usedGpuMemory) == 8 && offsetof(nvmlProcessInfo_t, gpuInstanceId) == 16
               && offsetof(nvmlProcessInfo_t, computeInstanceId) == 20, "nvmlProcessInfo_t offsets");
_Static_assert(sizeof(nvmlProcessInfo_v1_t) == 16 && offsetof(nvmlProcessInfo_v1_t, usedGpuMemory) == 8,
               "nvmlProcessInfo_v1_t is pid, usedGpuMemory");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40 && offsetof(nvmlMemory_v2_t, total) == 8 && offsetof(nvmlMemory_v2_t, reserved) == 16
               && offsetof(nvmlMemory_v2_t, free) == 24 && offsetof(nvmlMemory_v2_t, used) == 32,
               "nvmlMemory_v2_t is version, total, reserved, free, used");
_Static_assert(CNVML_MEMORY_V2_VERSION == (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)), "nvmlMemory_v2 = NVML_STRUCT_VERSION(Memory, 2)");
_Static_assert(sizeof(nvmlProcessDetail_v1_t) == 32 && offsetof(nvmlProcessDetail_v1_t, usedGpuMemory) == 8
               && offsetof(nvmlProcessDetail_v1_t, computeInstanceId) == 20 && offsetof(nvmlProcessDetail_v1_t, usedGpuCcProtectedMemory) == 24,
               "nvmlProcessDetail_v1_t offsets");
_Static_assert(CNVML_PROCESS_ENTRY_MAX_BYTES >= sizeof(nvmlProcessDetail_v1_t) && CNVML_PROCESS_ENTRY_MAX_BYTES >= sizeof(nvmlProcessInfo_t),
               "the process buffer holds the largest layout");
_Static_assert(sizeof(nvmlReturn_t) == 4 && sizeof(nvmlTemperatureSensors_t) == 4 && sizeof(nvmlClockType_t) == 4, "NVML enums are int-sized");

static void *first_symbol(void *handle, const char *const *names, const char **found) {
    for (; *names; names++) {
        void *p = dlsym(handle, *names);
        if (p) {
            if (found) *found = *names;
            return p;
        }
    }
    return NULL;
}

int cnvml_open(const char *path, cnvml_library *lib, char *message, size_t length) {
    memset(lib, 0, sizeof *lib);
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(message, length, "%s", why ? why : "dlopen failed");
        return -1;
    }
    static const char *const init[] = {"nvmlInit_v2", "nvmlInit", NULL};
    static const char *const count[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", NULL};
    static const char *const handle[] = {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", NULL};
    static const char *const processes[] = {
        "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses", NULL};
    static const char *const memory[] = {"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo", NULL};
    static const char *const reasons[] = {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons", NULL};
    lib->handle = h;
    lib->initialize = (cnvml_init_fn)first_symbol(h, init, &lib->init_symbol);
    lib->shutdown = (cnvml_shutdown_fn)dlsym(h, "nvmlShutdown");
    lib->error_string = (cnvml_error_string_fn)dlsym(h, "nvmlErrorString");
    lib->device_get_count = (cnvml_device_get_count_fn)first_symbol(h, count, &lib->count_symbol);
    lib->device_get_handle_by_index = (cnvml_device_get_handle_by_index_fn)first_symbol(h, handle, &lib->handle_symbol);
    lib->device_get_name = (cnvml_device_get_string_fn)dlsym(h, "nvmlDeviceGetName");
    lib->device_get_uuid = (cnvml_device_get_string_fn)dlsym(h, "nvmlDeviceGetUUID");
    lib->device_get_memory_info = (cnvml_device_get_memory_info_fn)dlsym(h, "nvmlDeviceGetMemoryInfo");
    lib->device_get_memory_info_v2 = (cnvml_device_get_memory_info_v2_fn)dlsym(h, "nvmlDeviceGetMemoryInfo_v2");
    (void)first_symbol(h, memory, &lib->memory_symbol);
    lib->device_get_utilization_rates = (cnvml_device_get_utilization_rates_fn)dlsym(h, "nvmlDeviceGetUtilizationRates");
    lib->device_get_temperature = (cnvml_device_get_temperature_fn)dlsym(h, "nvmlDeviceGetTemperature");
    lib->device_get_power_usage = (cnvml_device_get_power_usage_fn)dlsym(h, "nvmlDeviceGetPowerUsage");
    lib->device_get_clock_info = (cnvml_device_get_clock_info_fn)dlsym(h, "nvmlDeviceGetClockInfo");
    lib->device_get_clocks_event_reasons =
        (cnvml_device_get_clocks_event_reasons_fn)first_symbol(h, reasons, &lib->clocks_event_reasons_symbol);
    lib->system_get_driver_version = (cnvml_system_get_driver_version_fn)dlsym(h, "nvmlSystemGetDriverVersion");
    lib->device_get_processes = (cnvml_device_get_processes_fn)first_symbol(h, processes, &lib->processes_symbol);
    if (lib->device_get_processes) {
        const char *p = lib->processes_symbol;
        size_t n = strlen(p);
        lib->processes_version = (n > 3 && p[n - 3] == '_' && p[n - 2] == 'v') ? p[n - 1] - '0' : 1;
    }
    const char *missing = !lib->initialize ? "nvmlInit_v2 (or nvmlInit)"
        : !lib->device_get_count ? "nvmlDeviceGetCount_v2 (or nvmlDeviceGetCount)"
        : !lib->device_get_handle_by_index ? "nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)"
        : NULL;
    if (missing) {
        snprintf(message, length, "%s does not export %s; it is not NVML", path, missing);
        dlclose(h);
        memset(lib, 0, sizeof *lib);
        return -1;
    }
    return 0;
}

void cnvml_close(cnvml_library *lib) {
    if (lib->handle) dlclose(lib->handle);
    memset(lib, 0, sizeof *lib);
}
