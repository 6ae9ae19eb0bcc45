#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire

/// Accepted connections that have not yet said who they are (HELLO or CONTROL_REQUEST), oldest
/// first, each with its deadline. Deadlines grow with acceptance time, so expiry looks only at the
/// front. An entry whose connection identified itself or closed is skipped when it comes due (its
/// fd may have been reused: the connection id tells).
struct HelloDeadlines {
    let timeout: UInt64
    private var entries: [(deadline: UInt64, fd: Int32, id: ConnectionID)] = []
    private var head = 0

    init(timeout: UInt64) { self.timeout = timeout }

    var isEmpty: Bool { head == entries.count }

    mutating func add(fd: Int32, id: ConnectionID, now: UInt64) {
        entries.append((now &+ timeout, fd, id))
    }

    /// Removes and returns the entries due at `now`.
    mutating func expired(now: UInt64) -> [(fd: Int32, id: ConnectionID)] {
        var due: [(fd: Int32, id: ConnectionID)] = []
        while head < entries.count && entries[head].deadline <= now {
            due.append((entries[head].fd, entries[head].id))
            head += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count <= 4096)
            head = 0
        } else if head >= 1024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return due
    }
}

extension IngestServer {
    /// Work that waits on time rather than on a descriptor; the loop then wakes at least every 100 ms.
    var housekeepingDue: Bool { !helloDeadlines.isEmpty || !owingThresholds.isEmpty || acceptPaused || limitWarningsPending }

    func housekeeping() {
        let now = monotonicNanoseconds()
        for (fd, id) in helloDeadlines.expired(now: now) {
            guard let c = connections[fd], c.id == id, c.role == .unknown else { continue }
            closeSilent(fd, c)
        }
        if !owingThresholds.isEmpty && now &- lastThresholdRetry >= 100_000_000 {
            lastThresholdRetry = now
            for fd in Array(owingThresholds) { sendOwedThresholds(fd) }
        }
        limitHousekeeping(now: now)
    }

    /// A peer that connected and said nothing within `--hello-timeout`: it holds a descriptor and
    /// counts for nothing. Told why (best effort), logged once with its pid, closed.
    func closeSilent(_ fd: Int32, _ c: Connection) {
        let after = DaemonOptions.durationText(helloDeadlines.timeout)
        peerLog.write(.warning, "closed a connection from pid \(c.peer.pid) uid \(c.peer.uid): it sent neither HELLO nor a control request within \(after) of connecting (--hello-timeout)")
        let error = WireError(.limitExceeded, "no HELLO or CONTROL_REQUEST within \(after) of connecting; send one right after connect")
        UnixSocket.send(fd, WireEncoder.error(error), flags: Int32(MSG_DONTWAIT))
        closeConnection(fd)
    }
}
