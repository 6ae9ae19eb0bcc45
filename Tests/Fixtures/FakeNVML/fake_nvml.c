// A test double of NVIDIA's NVML: the subset probed uses, with NVML's real ABI (names, calling
// convention, struct layouts as in the official nvml.h), answering from a script.
//
// Built by the integration tests: cc -shared -fPIC fake_nvml.c -o libfake-nvml.so
//   -DFAKE_NVML_NO_V3   a driver before 510: no nvmlDeviceGetComputeRunningProcesses_v3, no
//                       nvmlDeviceGetMemoryInfo_v2, and only the older
//                       nvmlDeviceGetCurrentClocksThrottleReasons: the fallbacks are used
//   -DFAKE_NVML_V1_ONLY export only the unversioned entry points (nvmlInit, nvmlDeviceGetCount,
//                       nvmlDeviceGetHandleByIndex, nvmlDeviceGetComputeRunningProcesses with the v1
//                       layout, nvmlDeviceGetMemoryInfo, nvmlDeviceGetCurrentClocksThrottleReasons)
//
// The script is the file named by $FAKE_NVML_SCRIPT, read at nvmlInit and again at every
// nvmlDeviceGetCount (one sampling round), so a test can change it while probed runs. One
// directive a line; '#' starts a comment:
//   init CODE                        nvmlInit returns CODE (e.g. 9 DRIVER_NOT_LOADED, 18 version mismatch)
//   count CODE                       nvmlDeviceGetCount returns CODE
//   driver VERSION                   nvmlSystemGetDriverVersion's answer (default 580.95.05). As the
//                                    real drivers 535.43 to 535.86 did, _v3 then writes 32-byte
//                                    entries (with usedGpuCcProtectedMemory) instead of 24
//   process_entry_bytes N            _v3 writes N-byte entries (24 or 32) whatever the driver version
//   device INDEX NAME UUID TOTAL USED FREE UTIL_GPU UTIL_MEM TEMP_C POWER_MW   (NAME: '_' for spaces)
//                                    USED is memory allocated (what _v2 of the memory call reports);
//   reserved INDEX BYTES             memory the driver reserves: the v1 memory call counts it as used
//   clocks INDEX SM_MHZ REASONS      SM clock and the clocks-event reasons mask (0x… or decimal)
//   error INDEX QUERY CODE           QUERY: handle name uuid memory memory_v2 utilization temperature
//                                    power processes sm_clock clocks_event_reasons
//   process INDEX PID BYTES [+RATE]  BYTES: a number, or 'na' for NVML_VALUE_NOT_AVAILABLE; +RATE
//                                    adds RATE bytes per second since nvmlInit (a growing process)
//   processes INDEX FIRST_PID N BYTES  N processes with consecutive pids
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId; } nvmlProcessInfo_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
// What drivers 535.43-535.86 write into a _v3 buffer (nvmlProcessDetail_v1_t in later headers).
typedef struct {
    unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_cc_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
_Static_assert(sizeof(nvmlProcessInfo_t) == 24 && offsetof(nvmlProcessInfo_t, gpuInstanceId) == 16, "nvml.h layout");
_Static_assert(sizeof(nvmlProcessInfo_cc_t) == 32 && offsetof(nvmlProcessInfo_cc_t, usedGpuCcProtectedMemory) == 24, "535.43 layout");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40 && offsetof(nvmlMemory_v2_t, used) == 32, "nvml.h layout");
_Static_assert(sizeof(nvmlProcessInfo_v1_t) == 16 && offsetof(nvmlProcessInfo_v1_t, usedGpuMemory) == 8, "nvml.h layout");
_Static_assert(sizeof(nvmlMemory_t) == 24 && offsetof(nvmlMemory_t, used) == 16, "nvml.h layout");

enum { MAX_DEVICES = 16, MAX_PROCESSES = 256 };
enum { Q_HANDLE, Q_NAME, Q_UUID, Q_MEMORY, Q_MEMORY_V2, Q_UTILIZATION, Q_TEMPERATURE, Q_POWER, Q_PROCESSES, Q_SM_CLOCK,
       Q_CLOCKS_EVENT_REASONS, Q_COUNT };
static const char *const query_names[Q_COUNT] = {"handle", "name", "uuid", "memory", "memory_v2", "utilization", "temperature",
                                                 "power", "processes", "sm_clock", "clocks_event_reasons"};

struct fake_device {
    char name[96], uuid[96];
    unsigned long long total, used, free, reserved;
    unsigned int util_gpu, util_mem, temp, power, sm_mhz;
    unsigned long long reasons;
    int errors[Q_COUNT];
    unsigned int process_count;
    unsigned int pids[MAX_PROCESSES];
    unsigned long long bytes[MAX_PROCESSES];
    unsigned long long growth[MAX_PROCESSES];
};

static struct fake_device devices[MAX_DEVICES];
static unsigned int device_count;
static int init_code, count_code, initialized;
static char driver_version[80];
static unsigned int entry_bytes_override;
static struct timespec started;

static void load_script(void) {
    memset(devices, 0, sizeof devices);
    device_count = 0;
    init_code = count_code = 0;
    entry_bytes_override = 0;
    strcpy(driver_version, "580.95.05");
    const char *path = getenv("FAKE_NVML_SCRIPT");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char line[512], a[128], b[128];
    unsigned int i, n;
    unsigned long long total, used, free_, first;
    int code;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        struct fake_device d;
        memset(&d, 0, sizeof d);
        if (sscanf(line, " init %d", &code) == 1) {
            init_code = code;
        } else if (sscanf(line, " count %d", &code) == 1) {
            count_code = code;
        } else if (sscanf(line, " device %u %95s %95s %llu %llu %llu %u %u %u %u", &i, d.name, d.uuid, &total, &used, &free_,
                          &d.util_gpu, &d.util_mem, &d.temp, &d.power) == 10 && i < MAX_DEVICES) {
            for (char *c = d.name; *c; c++) if (*c == '_') *c = ' ';
            memcpy(devices[i].name, d.name, sizeof d.name);
            memcpy(devices[i].uuid, d.uuid, sizeof d.uuid);
            devices[i].total = total; devices[i].used = used; devices[i].free = free_;
            devices[i].util_gpu = d.util_gpu; devices[i].util_mem = d.util_mem;
            devices[i].temp = d.temp; devices[i].power = d.power;
            if (i + 1 > device_count) device_count = i + 1;
        } else if (sscanf(line, " driver %79s", a) == 1) {
            strcpy(driver_version, a);
        } else if (sscanf(line, " process_entry_bytes %u", &n) == 1) {
            entry_bytes_override = n;
        } else if (sscanf(line, " reserved %u %llu", &i, &total) == 2 && i < MAX_DEVICES) {
            devices[i].reserved = total;
        } else if (sscanf(line, " clocks %u %u %127s", &i, &n, a) == 3 && i < MAX_DEVICES) {
            devices[i].sm_mhz = n;
            devices[i].reasons = strtoull(a, NULL, 0);
        } else if (sscanf(line, " error %u %127s %d", &i, a, &code) == 3 && i < MAX_DEVICES) {
            for (int q = 0; q < Q_COUNT; q++) if (!strcmp(a, query_names[q])) devices[i].errors[q] = code;
        } else if (sscanf(line, " process %u %u %127s", &i, &n, b) == 3 && i < MAX_DEVICES && devices[i].process_count < MAX_PROCESSES) {
            struct fake_device *dev = &devices[i];
            unsigned long long rate = 0;
            char *plus = strchr(line, '+');
            if (plus) rate = strtoull(plus + 1, NULL, 10);
            dev->pids[dev->process_count] = n;
            dev->bytes[dev->process_count] = strcmp(b, "na") ? strtoull(b, NULL, 10) : ~0ULL;
            dev->growth[dev->process_count] = rate;
            dev->process_count++;
        } else if (sscanf(line, " processes %u %llu %u %127s", &i, &first, &n, b) == 4 && i < MAX_DEVICES) {
            struct fake_device *dev = &devices[i];
            for (unsigned int k = 0; k < n && dev->process_count < MAX_PROCESSES; k++) {
                dev->pids[dev->process_count] = (unsigned int)(first + k);
                dev->bytes[dev->process_count] = strtoull(b, NULL, 10);
                dev->process_count++;
            }
        }
    }
    fclose(f);
}

static nvmlReturn_t do_init(void) {
    clock_gettime(CLOCK_MONOTONIC, &started);
    load_script();
    if (init_code) return init_code;
    initialized = 1;
    return 0;
}

static nvmlReturn_t do_count(unsigned int *count) {
    if (!initialized) return 1;
    load_script();
    if (count_code) return count_code;
    if (!count) return 2;
    *count = device_count;
    return 0;
}

static nvmlReturn_t do_handle(unsigned int index, nvmlDevice_t *device) {
    if (!initialized) return 1;
    if (index >= device_count || !device) return 2;
    if (devices[index].errors[Q_HANDLE]) return devices[index].errors[Q_HANDLE];
    *device = &devices[index];
    return 0;
}

#define CHECK(device, q) \
    do { if (!initialized) return 1; if (!(device)) return 2; if ((device)->errors[q]) return (device)->errors[q]; } while (0)

#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlInit_v2(void) { return do_init(); }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { return do_count(count); }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) { return do_handle(index, device); }
#endif
nvmlReturn_t nvmlInit(void) { return do_init(); }
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return do_count(count); }
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) { return do_handle(index, device); }

nvmlReturn_t nvmlShutdown(void) {
    if (!initialized) return 1;
    initialized = 0;
    return 0;
}

const char *nvmlErrorString(nvmlReturn_t rc) {
    switch (rc) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    case 25: return "Argument Version Mismatch";
    default: return "Unknown Error";
    }
}

static nvmlReturn_t copy_string(const char *value, char *buffer, unsigned int length) {
    if (!buffer) return 2;
    if (strlen(value) + 1 > length) return 7;
    strcpy(buffer, value);
    return 0;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    CHECK(d, Q_NAME);
    return copy_string(d->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    CHECK(d, Q_UUID);
    return copy_string(d->uuid, uuid, length);
}

// v1 counts reserved memory as used (total - free), as the real drivers do.
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory) {
    CHECK(d, Q_MEMORY);
    if (!memory) return 2;
    memory->total = d->total;
    memory->used = d->used + d->reserved;
    memory->free = d->free;
    return 0;
}

#if !defined(FAKE_NVML_NO_V3) && !defined(FAKE_NVML_V1_ONLY)
// NVML_ERROR_ARGUMENT_VERSION_MISMATCH (25) unless version is nvmlMemory_v2. A `memory` error
// fails both calls (a lost GPU); `memory_v2` only this one (a device that refuses v2).
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *memory) {
    CHECK(d, Q_MEMORY);
    if (d->errors[Q_MEMORY_V2]) return d->errors[Q_MEMORY_V2];
    if (!memory) return 2;
    if (memory->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24))) return 25;
    memory->total = d->total;
    memory->reserved = d->reserved;
    memory->used = d->used;
    memory->free = d->free;
    return 0;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *reasons) {
    CHECK(d, Q_CLOCKS_EVENT_REASONS);
    if (!reasons) return 2;
    *reasons = d->reasons;
    return 0;
}
#endif

// Deprecated since 535 but still exported by every driver: the fallback.
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *reasons) {
    CHECK(d, Q_CLOCKS_EVENT_REASONS);
    if (!reasons) return 2;
    *reasons = d->reasons;
    return 0;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *mhz) {
    CHECK(d, Q_SM_CLOCK);
    if (type != 1 || !mhz) return 2;  // only NVML_CLOCK_SM is scripted
    *mhz = d->sm_mhz;
    return 0;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!initialized) return 1;
    return copy_string(driver_version, version, length);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    CHECK(d, Q_UTILIZATION);
    if (!u) return 2;
    u->gpu = d->util_gpu;
    u->memory = d->util_mem;
    return 0;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp) {
    CHECK(d, Q_TEMPERATURE);
    if (sensor != 0 || !temp) return 2;
    *temp = d->temp;
    return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *power) {
    CHECK(d, Q_POWER);
    if (!power) return 2;
    *power = d->power;
    return 0;
}

// A process's memory now: its scripted bytes plus its growth since nvmlInit.
static unsigned long long process_bytes(const struct fake_device *d, unsigned int k) {
    if (d->bytes[k] == ~0ULL || !d->growth[k]) return d->bytes[k];
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - started.tv_sec) + (double)(now.tv_nsec - started.tv_nsec) / 1e9;
    return d->bytes[k] + (unsigned long long)(seconds * (double)d->growth[k]);
}

// NVML's contract: *count in is the room in infos; too little room (or infos NULL with room 0
// while processes exist) answers INSUFFICIENT_SIZE with *count set to what is needed. Entries
// are written field by field at a stride of `size` bytes (16, 24 or 32), as the driver's own
// struct lays them out; the bytes of a field a layout lacks are left alone.
static nvmlReturn_t list_processes(nvmlDevice_t d, unsigned int *count, void *infos, size_t size) {
    CHECK(d, Q_PROCESSES);
    if (!count) return 2;
    if (*count < d->process_count) {
        *count = d->process_count;
        return 7;
    }
    if (d->process_count && !infos) return 2;
    for (unsigned int k = 0; k < d->process_count; k++) {
        unsigned char *p = (unsigned char *)infos + k * size;
        unsigned int pid = d->pids[k], none = 0xFFFFFFFFu, padding = 0;
        unsigned long long bytes = process_bytes(d, k), protected_bytes = 0;
        memcpy(p, &pid, 4);
        memcpy(p + 4, &padding, 4);
        memcpy(p + 8, &bytes, 8);
        if (size >= 24) {
            memcpy(p + 16, &none, 4);  // gpuInstanceId: no MIG
            memcpy(p + 20, &none, 4);  // computeInstanceId
        }
        if (size >= 32) memcpy(p + 24, &protected_bytes, 8);
    }
    *count = d->process_count;
    return 0;
}

#if !defined(FAKE_NVML_NO_V3) && !defined(FAKE_NVML_V1_ONLY)
/// The entry size of _v3: 32 bytes on drivers 535.43-535.86 (or as scripted), else 24.
static size_t v3_entry_bytes(void) {
    if (entry_bytes_override) return entry_bytes_override;
    unsigned int major = 0, minor = 0;
    if (sscanf(driver_version, "%u.%u", &major, &minor) == 2 && major == 535 && minor >= 43 && minor <= 86) return 32;
    return sizeof(nvmlProcessInfo_t);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    return list_processes(d, count, infos, v3_entry_bytes());
}
#endif
#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    return list_processes(d, count, infos, sizeof(nvmlProcessInfo_t));
}
#endif
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_v1_t *infos) {
    return list_processes(d, count, infos, sizeof(nvmlProcessInfo_v1_t));
}
