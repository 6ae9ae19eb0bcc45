// A test double of NVIDIA's NVML: the subset probed uses, with NVML's real ABI (names, calling
// convention, struct layouts as in the official nvml.h), answering from a script.
//
// Built by the integration tests: cc -shared -fPIC fake_nvml.c -o libfake-nvml.so
//   -DFAKE_NVML_NO_V3   omit nvmlDeviceGetComputeRunningProcesses_v3 (a driver before 510): _v2 is used
//   -DFAKE_NVML_V1_ONLY export only the unversioned entry points (nvmlInit, nvmlDeviceGetCount,
//                       nvmlDeviceGetHandleByIndex, nvmlDeviceGetComputeRunningProcesses with the v1 layout)
//
// The script is the file named by $FAKE_NVML_SCRIPT, read at nvmlInit and again at every
// nvmlDeviceGetCount (one sampling round), so a test can change it while probed runs. One
// directive a line; '#' starts a comment:
//   init CODE                        nvmlInit returns CODE (e.g. 9 DRIVER_NOT_LOADED, 18 version mismatch)
//   count CODE                       nvmlDeviceGetCount returns CODE
//   device INDEX NAME UUID TOTAL USED FREE UTIL_GPU UTIL_MEM TEMP_C POWER_MW   (NAME: '_' for spaces)
//   error INDEX QUERY CODE           QUERY: handle name uuid memory utilization temperature power processes
//   process INDEX PID BYTES          BYTES: a number, or 'na' for NVML_VALUE_NOT_AVAILABLE
//   processes INDEX FIRST_PID N BYTES  N processes with consecutive pids
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId; } nvmlProcessInfo_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
_Static_assert(sizeof(nvmlProcessInfo_t) == 24 && offsetof(nvmlProcessInfo_t, gpuInstanceId) == 16, "nvml.h layout");
_Static_assert(sizeof(nvmlProcessInfo_v1_t) == 16 && offsetof(nvmlProcessInfo_v1_t, usedGpuMemory) == 8, "nvml.h layout");
_Static_assert(sizeof(nvmlMemory_t) == 24 && offsetof(nvmlMemory_t, used) == 16, "nvml.h layout");

enum { MAX_DEVICES = 16, MAX_PROCESSES = 256 };
enum { Q_HANDLE, Q_NAME, Q_UUID, Q_MEMORY, Q_UTILIZATION, Q_TEMPERATURE, Q_POWER, Q_PROCESSES, Q_COUNT };
static const char *const query_names[Q_COUNT] = {"handle", "name", "uuid", "memory", "utilization", "temperature", "power", "processes"};

struct fake_device {
    char name[96], uuid[96];
    unsigned long long total, used, free;
    unsigned int util_gpu, util_mem, temp, power;
    int errors[Q_COUNT];
    unsigned int process_count;
    unsigned int pids[MAX_PROCESSES];
    unsigned long long bytes[MAX_PROCESSES];
};

static struct fake_device devices[MAX_DEVICES];
static unsigned int device_count;
static int init_code, count_code, initialized;

static void load_script(void) {
    memset(devices, 0, sizeof devices);
    device_count = 0;
    init_code = count_code = 0;
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
        } else if (sscanf(line, " error %u %127s %d", &i, a, &code) == 3 && i < MAX_DEVICES) {
            for (int q = 0; q < Q_COUNT; q++) if (!strcmp(a, query_names[q])) devices[i].errors[q] = code;
        } else if (sscanf(line, " process %u %u %127s", &i, &n, b) == 3 && i < MAX_DEVICES && devices[i].process_count < MAX_PROCESSES) {
            struct fake_device *dev = &devices[i];
            dev->pids[dev->process_count] = n;
            dev->bytes[dev->process_count] = strcmp(b, "na") ? strtoull(b, NULL, 10) : ~0ULL;
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

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory) {
    CHECK(d, Q_MEMORY);
    if (!memory) return 2;
    memory->total = d->total;
    memory->used = d->used;
    memory->free = d->free;
    return 0;
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

// NVML's contract: *count in is the room in infos; too little room (or infos NULL with room 0
// while processes exist) answers INSUFFICIENT_SIZE with *count set to what is needed.
#define LIST_PROCESSES(d, count, infos, type, extra)                  \
    do {                                                              \
        CHECK(d, Q_PROCESSES);                                        \
        if (!(count)) return 2;                                       \
        if (*(count) < (d)->process_count) {                          \
            *(count) = (d)->process_count;                            \
            return 7;                                                 \
        }                                                             \
        for (unsigned int k = 0; k < (d)->process_count; k++) {       \
            type *p = &(infos)[k];                                    \
            memset(p, 0, sizeof *p);                                  \
            p->pid = (d)->pids[k];                                    \
            p->usedGpuMemory = (d)->bytes[k];                         \
            extra;                                                    \
        }                                                             \
        *(count) = (d)->process_count;                                \
        return 0;                                                     \
    } while (0)

#if !defined(FAKE_NVML_NO_V3) && !defined(FAKE_NVML_V1_ONLY)
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    LIST_PROCESSES(d, count, infos, nvmlProcessInfo_t, (p->gpuInstanceId = 0xFFFFFFFFu, p->computeInstanceId = 0xFFFFFFFFu));
}
#endif
#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    LIST_PROCESSES(d, count, infos, nvmlProcessInfo_t, (p->gpuInstanceId = 0xFFFFFFFFu, p->computeInstanceId = 0xFFFFFFFFu));
}
#endif
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_v1_t *infos) {
    LIST_PROCESSES(d, count, infos, nvmlProcessInfo_v1_t, (void)0);
}
