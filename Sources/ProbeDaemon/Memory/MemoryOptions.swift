/// probed's settings for resident-memory sampling and leak detection.
public struct MemoryOptions: Sendable, Equatable {
    /// How often every connected client's `/proc/<pid>/status` is read, in ns. Default 1 s.
    public var sampleInterval: UInt64 = 1_000_000_000
    /// How much history each process keeps, in ns: 15 minutes, whatever the interval.
    public var history: UInt64 = 15 * 60 * 1_000_000_000
    /// Growth (bytes per minute) at or above which a steady trend is flagged. Default 1 MiB/min.
    public var leakThresholdBytesPerMinute: Double = 1_048_576
    /// The recent span the trend is fitted over, in ns. Default 5 minutes.
    public var leakWindow: UInt64 = 5 * 60 * 1_000_000_000
    /// `--exited-retention`: how long a process that exited stays listed (`status`, `procs`, its
    /// own stats rows) before its series fold into their retired aggregates and its records are
    /// forgotten, in ns. Default 10 minutes.
    public var exitedRetention: UInt64 = 10 * 60 * 1_000_000_000

    public init() {}

    /// Samples kept per process: enough to span `history` at `sampleInterval` (a ring buffer).
    /// - Note: 9,001 samples (144 KiB) per process at the shortest interval, 100 ms.
    public var historyCapacity: Int { Int((history + sampleInterval - 1) / sampleInterval) + 1 }

    static let minimumInterval: UInt64 = 100_000_000
    static let maximumInterval: UInt64 = 60_000_000_000

    /// A duration such as `500ms`, `1s`, `2.5s`, `5m` or `1h`, in ns; nil when malformed or not positive.
    public static func parseDuration(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value.isFinite, value > 0, value * scale < 1e18 else { return nil }
            return UInt64((value * scale).rounded())
        }
        return nil
    }

    /// A size such as `1MiB`, `512KiB`, `2GiB`, `1MB` (10^6) or a plain byte count, optionally
    /// followed by `/min`; nil when malformed or not positive.
    public static func parseSize(_ text: String) -> Double? {
        var body = Substring(text)
        if body.hasSuffix("/min") { body = body.dropLast(4) }
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("kB", 1e3), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9),
            ("K", 1024), ("M", 1_048_576), ("G", 1_073_741_824), ("B", 1),
        ]
        var scale = 1.0
        for (suffix, s) in units where body.hasSuffix(suffix) {
            body = body.dropLast(suffix.count)
            scale = s
            break
        }
        guard let value = Double(body), value.isFinite, value > 0 else { return nil }
        return value * scale
    }
}
