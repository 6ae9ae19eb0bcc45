import ProbeControl

/// `probectl gpu --json`, rendered from the store's snapshot.
enum GPUJSON {
    static func render(_ s: GPUReportSnapshot) -> String {
        let gpu = s.gpu
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("available", gpu.available)
        w.field("reason", gpu.reason)
        w.field("library", gpu.library?.path)
        w.field("driver_version", gpu.library?.driverVersion)
        w.field("processes_function", gpu.library?.processesFunction)
        w.field("processes_entry_bytes", gpu.library.flatMap { $0.processEntryBytes == 0 ? nil : $0.processEntryBytes })
        w.field("memory_function", gpu.library?.memoryFunction)
        w.field("clocks_event_reasons_function", gpu.library?.clocksEventReasonsFunction)
        w.field("sample_interval_ns", s.sampleInterval)
        w.field("sample_age_ns", gpu.snapshot.map { s.now &- $0.time })
        w.field("error", gpu.snapshot?.countError)
        w.beginArray("devices")
        for d in gpu.available ? gpu.snapshot?.devices ?? [] : [] {
            w.beginObject()
            w.field("index", d.index)
            w.field("name", d.name)
            w.field("uuid", d.uuid)
            w.field("memory_total_bytes", d.memoryTotalBytes)
            w.field("memory_used_bytes", d.memoryUsedBytes)
            w.field("memory_reserved_bytes", d.memoryReservedBytes)
            w.field("memory_free_bytes", d.memoryFreeBytes)
            w.field("utilization_gpu_percent", d.utilizationGPUPercent)
            w.field("utilization_memory_percent", d.utilizationMemoryPercent)
            w.field("temperature_celsius", d.temperatureCelsius)
            w.field("power_watts", d.powerMilliwatts.map { Double($0) / 1000 })
            w.field("sm_clock_mhz", d.smClockMHz)
            if let mask = d.clocksEventReasons {
                w.beginArray("clocks_event_reasons")
                for name in GPUClocksEventReason.names(mask) { w.element(name) }
                w.endArray()
            } else {
                w.field("clocks_event_reasons", String?.none)
            }
            w.beginObject("errors")
            for (query, e) in d.errors.sorted(by: { $0.key < $1.key }) { w.field(query, e) }
            w.endObject()
            if let list = d.processes {
                w.beginArray("processes")
                for p in list.sorted(by: { $0.pid < $1.pid }) {
                    w.beginObject()
                    w.field("pid", p.pid)
                    w.field("service", s.services[p.pid])
                    w.field("memory_used_bytes", p.usedBytes)
                    w.endObject()
                }
                w.endArray()
            } else {
                w.field("processes", String?.none)
            }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
