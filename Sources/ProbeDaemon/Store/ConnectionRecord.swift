/// A client connection as the store keeps it (one that said HELLO), for the reports.
struct ConnectionRecord: Sendable {
    var service: String
    var pid: Int32
    var uid: UInt32
    /// `connected`, `exited`, `rejected`, or `restored`: connected when probed last stopped
    /// (from the state file), not yet back.
    var state: String
    /// Daemon clock (monotonic ns).
    var connectedAt: UInt64
    var disconnectedAt: UInt64?
    var eventsReceived: UInt64
    /// The client's cumulative count of events it dropped, as it last reported it.
    var droppedReported: UInt64
    /// Operations it defined that have a series.
    var operations: Int
    var seriesRefused: UInt64
    var eventsRefused: UInt64
}
