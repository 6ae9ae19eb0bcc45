#if canImport(Glibc)
import Glibc
#endif
import ProbeControl
import ProbePosix
import ProbeWire

extension IngestServer {
    /// After a DEFINE of an operation probed has a threshold for, tells the client.
    func sendThresholdIfSet(_ fd: Int32, _ d: Definition) {
        guard d.kind == .operation, let ns = thresholds.value(d.name) else { return }
        connections[fd]?.thresholdsOwed[d.id] = ns
        sendOwedThresholds(fd)
    }

    /// Sends changed thresholds to every connection that defined the operation (ingest thread).
    func applyThresholdChanges() {
        let changes = thresholds.takeChanges()
        guard !changes.isEmpty else { return }
        for fd in Array(connections.keys) {
            guard let c = connections[fd], c.role == .client else { continue }
            var owed = false
            for (operation, ns) in changes {
                for (id, name) in c.operations.enumerated() where name == operation {
                    connections[fd]?.thresholdsOwed[UInt32(id)] = ns
                    owed = true
                }
            }
            if owed { sendOwedThresholds(fd) }
        }
    }

    /// Sends the connection's owed THRESHOLDs without waiting. One the client's full receive buffer
    /// refuses stays owed (only its latest value) and is sent again every 100 ms by the loop's
    /// housekeeping until the client reads, so a threshold is never lost while the connection lives.
    func sendOwedThresholds(_ fd: Int32) {
        guard let owed = connections[fd]?.thresholdsOwed, !owed.isEmpty else {
            owingThresholds.remove(fd)
            return
        }
        for (id, ns) in owed.sorted(by: { $0.key < $1.key }) {
            guard UnixSocket.send(fd, WireEncoder.threshold(operationID: id, nanoseconds: ns), flags: Int32(MSG_DONTWAIT)) else {
                // Full (EAGAIN): again later. Any other error: the peer is going, and reading its
                // end of stream closes the connection (and forgets what it was owed).
                owingThresholds.insert(fd)
                return
            }
            connections[fd]?.thresholdsOwed[id] = nil
        }
        owingThresholds.remove(fd)
    }

    /// Sets `operation`'s threshold (0 removes it) and has the ingest thread tell the clients;
    /// returns once it has (the barrier runs after the changes are sent).
    func setThreshold(_ operation: String, nanoseconds: UInt64) {
        thresholds.set(operation, nanoseconds: nanoseconds)
        barrier()
    }
}

extension CallEntry {
    /// One log line: what an operator grepping the journal needs, attributes included; the
    /// duration in the units probectl's tables use (`24.0µs`, `80.1ms`, `1.25s`).
    var logLine: String {
        var line = detail.failed ? "failed call" : "slow call"
        line += ": service \(service) pid \(pid) operation \(operation) duration \(Format.duration(detail.durationNanoseconds))"
        if detail.items > 1 { line += " items \(detail.items)" }
        if detail.failed { line += " error \(errorType ?? "unknown"): \(detail.errorDescription)" }
        if !detail.attributes.isEmpty {
            line += " attributes " + detail.attributes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if detail.truncated { line += " (truncated by the client)" }
        return line
    }
}
