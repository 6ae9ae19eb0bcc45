import Synchronization

/// The slow-call thresholds set with `probectl threshold`: by operation name, for every service
/// and every connection, kept until changed (in memory: a restarted probed starts with none).
///
/// The control thread changes it; the ingest thread sends THRESHOLD to clients after each DEFINE
/// of a named operation and, for changes, to every connection that defined it.
final class ThresholdTable: Sendable {
    struct State {
        var values: [String: UInt64] = [:]
        /// Operations changed since the ingest thread last looked.
        var changed: Set<String> = []
    }

    let state = Mutex(State())

    /// Sets `operation`'s threshold; 0 removes it.
    func set(_ operation: String, nanoseconds: UInt64) {
        state.withLock { s in
            s.values[operation] = nanoseconds == 0 ? nil : nanoseconds
            s.changed.insert(operation)
        }
    }

    func value(_ operation: String) -> UInt64? { state.withLock { $0.values[operation] } }

    var all: [String: UInt64] { state.withLock { $0.values } }

    /// The operations changed since the last call, with their thresholds now (0 = none).
    func takeChanges() -> [(String, UInt64)] {
        state.withLock { s in
            defer { s.changed = [] }
            return s.changed.map { ($0, s.values[$0] ?? 0) }
        }
    }
}
