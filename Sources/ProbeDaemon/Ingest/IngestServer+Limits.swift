#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire

/// How many connections probed holds, so that it never runs out of descriptors for the work that
/// is not a client's: probectl's sessions, `/metrics` scrapes, `/proc` reads, NVML.
///
/// - `maxClients`: connections that said HELLO (`--max-clients`, default 4,096), at most the
///   descriptor limit less a reserve (`min(256, limit / 2)`). A HELLO past it is answered with
///   ERROR `limit_exceeded` naming the limit; the client logs that and retries with its backoff.
/// - `maxConnections`: every accepted ingest connection, those that have not yet said HELLO or
///   CONTROL_REQUEST included: `maxClients` and 64 more for probectl, at most the limit less
///   half the reserve. A connection accepted past it is refused the same way at once.
/// - At the descriptor limit itself (EMFILE: the reserve was spent elsewhere), a spare
///   descriptor is given up to accept the waiting peer and refuse it; only when even that fails
///   does the listening socket leave the loop until a descriptor is free.
/// Each kind of refusal is logged once in full, then counted and summed up once a minute;
/// `probectl status` shows `connections_refused` and `max_clients`.
struct ConnectionLimits: Sendable, Equatable {
    let maxClients: Int
    let maxConnections: Int
    /// `--max-clients` as given, when the descriptor limit lowered it.
    let lowered: Int?

    init(maxClients asked: Int, descriptorLimit: Int = ConnectionLimits.descriptorLimit()) {
        let reserve = min(256, descriptorLimit / 2)
        maxClients = max(1, min(asked, descriptorLimit - reserve))
        maxConnections = max(maxClients, min(maxClients + 64, descriptorLimit - reserve / 2))
        lowered = maxClients < asked ? asked : nil
    }

    /// The soft limit on this process's descriptors (RLIMIT_NOFILE), after probed raised it.
    static func descriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur == rlim_t.max ? Int(Int32.max) : Int(min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// The names open connections may hold, all together (see `IngestServer.define`): 64 MiB,
    /// some 300,000 names of the longest kind. A fleet of 4,096 processes defining 50 names each
    /// holds about 20 MiB.
    static let defaultNameBudgetBytes = 64 << 20

    /// What one defined name costs in the connection's tables (the ingest side's and the store's,
    /// which share the text): its string storage in a malloc block, beyond 15 bytes, and two slots.
    static func nameBytes(_ name: String) -> Int {
        let n = name.utf8.count
        return (n <= 15 ? 0 : (32 + n + 1 + 16 + 15) / 16 * 16) + 2 * MemoryLayout<String?>.stride
    }

    /// A descriptor to give up at the limit (-1 when none could be opened).
    static func openSpare() -> Int32 { open("/dev/null", O_RDONLY | O_CLOEXEC) }
}

extension IngestServer {
    /// `accept` failed with EMFILE or ENFILE: gives up the spare descriptor to accept one waiting
    /// peer and refuse it, then takes the spare back. True when the caller may accept again (a
    /// peer was refused); false when nothing waits, or when there was no spare: the listening
    /// socket then leaves the loop (it would stay readable and spin it) until `resumeAccepting`.
    func refuseAtDescriptorLimit(_ error: Int32) -> Bool {
        guard spareFD >= 0 else {
            pauseAccepting(error)
            return false
        }
        close(spareFD)
        spareFD = -1
        let fd = UnixSocket.accept(listenFD)
        let failure = errno
        if fd >= 0 {
            connectionsRefused.add(1, ordering: .relaxed)
            let pid = UnixSocket.peerCredentials(fd).map { String($0.pid) } ?? "unknown"
            refuse(fd, WireError(.limitExceeded, "probed is out of file descriptors (limit \(ConnectionLimits.descriptorLimit())); try again later"))
            descriptorWarning.note(
                "refused a connection from pid \(pid): probed is at its descriptor limit (\(ConnectionLimits.descriptorLimit()), \(connections.count) connections, \(clientCount) of them clients); raise LimitNOFILE or lower --max-clients. Further refusals are counted and logged once a minute")
        }
        spareFD = ConnectionLimits.openSpare()
        // No spare to be had, or another thread took the one given up: nothing can be refused.
        if spareFD < 0 || (fd < 0 && (failure == EMFILE || failure == ENFILE)) {
            pauseAccepting(error)
            return false
        }
        return fd >= 0
    }

    /// Takes the listening socket out of the loop: nothing can be accepted, not even to refuse.
    func pauseAccepting(_ error: Int32) {
        guard !acceptPaused else { return }
        acceptPaused = true
        unwatch(listenFD)
        descriptorWarning.note("cannot accept connections: \(String(cString: strerror(error))) (errno \(error)) with \(connections.count) connections open; new peers wait in the socket's backlog until descriptors are free (raise LimitNOFILE or lower --max-clients). Further refusals are counted and logged once a minute")
    }

    /// Watches the listening socket again once the spare descriptor can be had back.
    func resumeAccepting() {
        guard acceptPaused else { return }
        if spareFD < 0 { spareFD = ConnectionLimits.openSpare() }
        guard spareFD >= 0 else { return }
        acceptPaused = false
        descriptorWarning.flush(now: true)
        log.info("accepting connections again (\(connections.count) open)")
        if accepting.load(ordering: .relaxed) {
            watch(listenFD)
            acceptAll()
        }
    }

    /// Past `limits.maxConnections` (peers that have not said who they are hold descriptors too).
    func refuseAtConnectionLimit(_ fd: Int32) {
        connectionsRefused.add(1, ordering: .relaxed)
        let pid = UnixSocket.peerCredentials(fd).map { String($0.pid) } ?? "unknown"
        refuse(fd, WireError(.limitExceeded, "probed holds \(connections.count) connections, its limit (--max-clients \(limits.maxClients) and 64 for probectl); try again later"))
        clientLimitWarning.note(
            "refused a connection from pid \(pid): \(connections.count) connections open, the most probed holds (--max-clients \(limits.maxClients) and 64 for probectl). Further refusals are counted and logged once a minute")
    }

    /// A HELLO past `limits.maxClients`: told why, logged (once, then counted), closed.
    func refuseOverMaxClients(_ fd: Int32, _ c: Connection, service: String) {
        connectionsRefused.add(1, ordering: .relaxed)
        clientLimitWarning.note(
            "refused client service \(service) pid \(c.peer.pid) uid \(c.peer.uid): \(clientCount) clients connected, the most allowed (--max-clients \(limits.maxClients)\(limits.lowered == nil ? "" : ", lowered from \(limits.lowered!) by the descriptor limit")). Further refusals are counted and logged once a minute")
        let error = WireError(.limitExceeded, "probed serves at most \(limits.maxClients) client connections (--max-clients) and has that many; this one is refused, try again later")
        UnixSocket.send(fd, WireEncoder.error(error), flags: Int32(MSG_DONTWAIT))
        connections[fd] = nil
        unwatch(fd)
        close(fd)
    }

    /// Answers a peer accepted only to be refused: reads what it already sent (closing a Unix
    /// socket with unread data resets it, and the peer would lose the ERROR), sends ERROR, closes.
    func refuse(_ fd: Int32, _ error: WireError) {
        var sink = [UInt8](repeating: 0, count: 512)
        for _ in 0..<4 where recv(fd, &sink, sink.count, Int32(MSG_DONTWAIT)) > 0 {}
        UnixSocket.send(fd, WireEncoder.error(error), flags: Int32(MSG_DONTWAIT))
        close(fd)
    }

    var limitWarningsPending: Bool {
        clientLimitWarning.pending || descriptorWarning.pending || control.busyWarning.pending || peerLog.pending
    }

    /// From the loop's housekeeping: retries a paused accept, reports counted refusals.
    func limitHousekeeping(now: UInt64) {
        if acceptPaused { resumeAccepting() }
        clientLimitWarning.flush()
        descriptorWarning.flush()
        control.busyWarning.flush()
        peerLog.flush()
    }
}
