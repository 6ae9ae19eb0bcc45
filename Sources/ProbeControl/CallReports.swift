/// One slow or failed call in `probectl slow --json` / `probectl errors --json` (and each line of
/// `--follow`).
public struct CallEntryRow: Codable, Sendable, Equatable {
    public var service: String
    public var pid: Int
    public var operation: String
    /// When the call started: Unix time in ns, and the same as ISO 8601 UTC.
    public var startWallNs: UInt64
    public var startTime: String
    /// CLOCK_MONOTONIC of the client's host when the call started.
    public var startNs: UInt64
    public var durationNs: UInt64
    public var items: UInt64
    public var failed: Bool
    public var slow: Bool
    /// The client cut an attribute or the message to fit the limits (or probed's memory budget did).
    public var truncated: Bool
    /// For failures: the error's type name and `String(describing:)` of it.
    public var errorType: String?
    public var message: String?
    public var attributes: [String: String]
}

/// `probectl slow --json`.
public struct SlowCallsReport: Codable, Sendable {
    public var schemaVersion: Int
    public var operation: String?
    /// Slow calls ever reported for the operations shown (also those no longer kept).
    public var slowCount: UInt64
    /// The most recent slow calls, newest first.
    public var slowCalls: [CallEntryRow]
    /// The slowest calls kept, slowest first.
    public var slowest: [CallEntryRow]
}

/// One (service, operation) of `probectl errors --json`.
public struct ErrorSummaryRow: Codable, Sendable, Equatable {
    public var service: String
    public var operation: String
    public var calls: UInt64
    public var errors: UInt64
    /// Failed calls over all calls in the last minute; nil when there were no calls.
    public var errorRate1M: Double?
    public var errorTypes: [String: UInt64]
}

/// `probectl errors --json`.
public struct ErrorsReport: Codable, Sendable {
    public var schemaVersion: Int
    public var operation: String?
    /// The most recent failures, newest first.
    public var errors: [CallEntryRow]
    public var operations: [ErrorSummaryRow]
}

public struct ThresholdRow: Codable, Sendable, Equatable {
    public var operation: String
    public var thresholdNs: UInt64
}

/// `probectl threshold --json`: every threshold probed holds.
public struct ThresholdsReport: Codable, Sendable {
    public var schemaVersion: Int
    public var thresholds: [ThresholdRow]
}

/// Durations as people type them on a command line.
public enum DurationText {
    /// `50ms`, `1.5s`, `250us`, `100ns`, `2m`, `1h` in ns; nil when malformed or not positive.
    public static func parse(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value.isFinite, value > 0, value * scale < 1e18,
                  (value * scale).rounded() >= 1
            else { return nil }
            return UInt64((value * scale).rounded())
        }
        return nil
    }
}
