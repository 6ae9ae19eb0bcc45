/// The stretch of time a stats report covers: the last 10 s, 1 min, 5 min or 15 min, or `all`
/// since each series began. Recent windows slide in steps of their slice width (1 s for 10 s,
/// 10 s for 1 min, 1 min for 5 and 15 min), so they cover slightly less than their length.
public enum StatsWindow: String, CaseIterable, Sendable {
    case tenSeconds = "10s"
    case oneMinute = "1m"
    case fiveMinutes = "5m"
    case fifteenMinutes = "15m"
    case all

    /// The accepted spellings, for messages: "10s, 1m, 5m, 15m or all".
    public static let choices = "10s, 1m, 5m, 15m or all"

    /// The window's length in seconds; nil for `all`.
    public var seconds: UInt64? {
        switch self {
        case .tenSeconds: 10
        case .oneMinute: 60
        case .fiveMinutes: 300
        case .fifteenMinutes: 900
        case .all: nil
        }
    }

    /// What a table footer calls it: "the last 1m", "since each series began".
    public var phrase: String { self == .all ? "since each series began" : "over the last \(rawValue)" }
}
