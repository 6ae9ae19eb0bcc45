/// One row of `probectl procs --json`: a client process, connected or recently exited, with its
/// resident memory as probed samples it from `/proc/<pid>/status`, and its leak assessment.
public struct ProcessMemoryRow: Codable, Sendable, Equatable {
    public var service: String
    public var pid: Int
    public var uid: Int
    /// `connected`, `exited` or `rejected`.
    public var state: String
    /// VmRSS at the last sample; nil before the first.
    public var rssBytes: UInt64?
    /// VmHWM: the largest resident set the process ever had.
    public var rssPeakBytes: UInt64?
    public var rssAnonBytes: UInt64?
    /// RssFile (mapped files: weights read through mmap) and RssShmem: context, never a leak.
    public var rssFileBytes: UInt64?
    public var rssShmemBytes: UInt64?
    public var swapBytes: UInt64?
    /// RssAnon + VmSwap: the memory the process owns, which the leak detector fits.
    public var ownedBytes: UInt64?
    /// Theil–Sen slope of owned memory over the leak window, bytes per minute, and its Kendall's
    /// tau (−1…1; 1: every later sample higher); nil with too little history.
    public var ownedGrowthBytesPerMin: Double?
    public var ownedGrowthFit: Double?
    /// The same of VmRSS, for context (mapped files' pages grow it without a leak).
    public var rssGrowthBytesPerMin: Double?
    public var rssGrowthFit: Double?
    /// The verdict on owned memory: `insufficient_data`, `leak`, `growing`, `shrinking` or `flat`.
    public var trend: String
    public var leakSuspected: Bool
    public var leakSuspectedForNs: UInt64?
    /// Span of the samples the trend was fitted over.
    public var trendWindowNs: UInt64?
    public var samples: Int
    public var sampleFailures: UInt64
    public var lastSampleAgeNs: UInt64?
    public var connectedForNs: UInt64
    /// Nil while connected.
    public var exitedAgoNs: UInt64?
    public var eventsReceived: UInt64
    public var droppedEvents: UInt64
    public var memoryDeltasDropped: UInt64
    /// Device memory the process holds on all GPUs together, per NVML; nil without NVML.
    public var gpuMemoryBytes: UInt64?
    /// Theil–Sen slope of that memory and the leak verdict, as for resident memory.
    public var gpuMemoryGrowthBytesPerMin: Double?
    public var gpuTrend: String?
    public var gpuLeakSuspected: Bool?
}

public struct ProcsReport: Codable, Sendable {
    public var schemaVersion: Int
    public var sampleIntervalNs: UInt64
    public var leakThresholdBytesPerMin: Double
    public var leakWindowNs: UInt64
    public var processes: [ProcessMemoryRow]
}
