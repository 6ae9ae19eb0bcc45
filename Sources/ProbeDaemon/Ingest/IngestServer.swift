// Ingest: the client side of the socket. One thread runs an epoll loop over the listening socket
// and every client connection, checks each message against its connection's state (HELLO first,
// defined ids, sizes), answers ACK, ERROR and THRESHOLD, and hands whole messages to the store in
// order through StoreFeed.
// Owns: client connections and their name tables, hello deadlines, owed thresholds, the
// threshold table, the feed's back-pressure, the connection limits (IngestServer+Limits.swift).
// May call: ProbeWire, ProbePosix; Store/ only through StoreFeed (never awaits the actor);
// Control/ (hands a control connection over); Service/ (Log, AccessPolicy, options).

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbePosix
import ProbeWire
import Synchronization

/// The ingest thread: one epoll loop over the listening socket and every client connection.
/// It decodes and checks each message against the connection's state, then hands whole
/// messages to the store in order. A bad message is answered with ERROR, logged with the
/// peer's pid, and its connection closed; every other client is unaffected.
final class IngestServer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: `connections` and the buffers belong to the ingest thread;
    //     `barriers` is behind a Mutex; the fds are immutable after init.
    typealias Role = ClientSession.Role

    struct Connection {
        let id: ConnectionID
        let fd: Int32
        let peer: PeerCredentials
        /// Its role, service and defined names, and the checks that need them (ClientSession.swift).
        var session = ClientSession()
        var role: Role { session.role }
        var service: String { session.service }
        var operations: [String?] { session.operations }
        /// What its defined names hold, counted against `nameBudgetBytes` (ConnectionLimits.nameBytes).
        var nameBytes = 0
        /// Event records accepted on this connection, and how many of them were acknowledged.
        var eventsAccepted: UInt64 = 0
        var eventsAcknowledged: UInt64 = 0
        /// THRESHOLDs not yet sent (the client's receive buffer was full), latest value per operation id.
        var thresholdsOwed: [UInt32: UInt64] = [:]
    }

    let listenFD: Int32
    let epoll: Epoll
    let wakeRead: Int32
    let wakeWrite: Int32
    let feed: StoreFeed
    let log: Log
    let policy: AccessPolicy
    let control: ControlServer
    var connections: [Int32: Connection] = [:]
    var nextID: ConnectionID = 1
    /// Accepted connections that have not yet said HELLO or CONTROL_REQUEST (IngestServer+Lifecycle.swift).
    var helloDeadlines: HelloDeadlines
    /// Connections with THRESHOLDs owed, retried until their client reads (IngestServer+CallDetail.swift).
    var owingThresholds: Set<Int32> = []
    var lastThresholdRetry: UInt64 = 0
    let receiveBuffer: UnsafeMutableRawBufferPointer
    let barriers = Mutex<[DispatchSemaphore]>([])
    let stopping = Atomic<Bool>(false)
    /// Signalled when `run` returns (after `stopping` is set): nothing more is read from clients.
    let finished = DispatchSemaphore(value: 0)
    /// Cleared by stopAccepting() (shutdown): the loop then accepts nothing more.
    let accepting = Atomic<Bool>(true)
    /// Bumped on every turn of the ingest loop (at least once a second): the watchdog's proof of life.
    let heartbeat = Atomic<UInt64>(0)
    /// How many connections may be held: see IngestServer+Limits.swift.
    let limits: ConnectionLimits
    /// Connections that said HELLO and are open (counted against `limits.maxClients`).
    var clientCount = 0
    /// Bytes of the names open connections have defined (their ids' tables), all together, and
    /// the most they may hold: a DEFINE past it is refused with `limit_exceeded`.
    var nameBytes = 0
    let nameBudgetBytes: Int
    /// A descriptor kept open (on /dev/null) to be closed when accept meets the descriptor
    /// limit, so the waiting peer can be accepted and told why it is refused; -1 while spent.
    var spareFD: Int32 = -1
    /// Set while the listening socket is out of the loop because the descriptor limit left no
    /// way to refuse its peers (housekeeping and every closed connection try to resume).
    var acceptPaused = false
    /// Connections refused at a limit (`--max-clients`, the descriptor limit), for status.
    let connectionsRefused = Atomic<UInt64>(0)
    lazy var clientLimitWarning = CountedWarning(summary: { [limits] n, s in
        "refused \(n) more client connections in the last \(s) s: \(limits.maxClients) clients already connected (--max-clients)"
    }, sink: { [log] in log.warning($0) })
    lazy var descriptorWarning = CountedWarning(summary: { n, s in
        "refused \(n) more connections in the last \(s) s at the descriptor limit (\(ConnectionLimits.descriptorLimit()))"
    }, sink: { [log] in log.warning($0) })
    /// Slow-call thresholds set with `probectl threshold`, and the rate-limited log of slow and failed calls.
    let thresholds = ThresholdTable()
    /// Lines about single peers (a refused message, a silent or disallowed connection): a burst
    /// of 1,000 whole, then 10 a second, so that no local process can flood the journal.
    lazy var peerLog = RateLimitedLog(perSecond: 10, burst: 1_000, subject: "refused or closed connections",
                                      hint: "probectl status counts them") { [log] _, line in log.warning(line) }
    lazy var detailLog = RateLimitedLog { [log] level, line in
        level == .warning ? log.warning(line) : log.info(line)
    }

    init(listenFD: Int32, feed: StoreFeed, log: Log, policy: AccessPolicy, control: ControlServer,
         helloTimeout: UInt64 = DaemonOptions.defaultHelloTimeout,
         limits: ConnectionLimits = ConnectionLimits(maxClients: DaemonOptions.defaultMaxClients),
         nameBudgetBytes: Int = ConnectionLimits.defaultNameBudgetBytes) throws(SystemError) {
        self.listenFD = listenFD
        self.limits = limits
        self.nameBudgetBytes = nameBudgetBytes
        helloDeadlines = HelloDeadlines(timeout: helloTimeout)
        self.feed = feed
        self.log = log
        self.policy = policy
        self.control = control
        epoll = try Epoll()
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError("pipe") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        // One byte more than the largest legal message, so an oversized one is seen as such.
        receiveBuffer = .allocate(byteCount: WireProtocol.maxMessageBytes + 1, alignment: 16)
        spareFD = ConnectionLimits.openSpare()
        watch(listenFD)
        watch(wakeRead)
    }

    /// probed's ingest server lives as long as probed; one made by a test gives back what it owns
    /// (not the listening socket, nor connections, which their owners close).
    deinit {
        receiveBuffer.deallocate()
        for fd in [wakeRead, wakeWrite, epoll.fd, spareFD] where fd >= 0 { close(fd) }
    }

    func watch(_ fd: Int32) {
        epoll.add(fd)
    }

    func unwatch(_ fd: Int32) {
        epoll.remove(fd)
    }

    /// Makes sure every message clients had handed to the kernel before this call has been
    /// applied to the store. Called by control sessions before they read the store. False when
    /// `timeout` passed first (probed is behind its clients; what was queued is applied later).
    @discardableResult
    func barrier(timeout: Duration = .seconds(2)) -> Bool {
        let semaphore = DispatchSemaphore(value: 0)
        barriers.withLock { $0.append(semaphore) }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        let (seconds, attoseconds) = timeout.components
        let ns = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        return semaphore.wait(timeout: .now() + .nanoseconds(ns)) == .success
    }

    func wake() {
        var byte: UInt8 = 0
        _ = write(wakeWrite, &byte, 1)
    }

    func run() {
        defer { finished.signal() }
        var ready = [Int32](repeating: 0, count: 256)
        while !stopping.load(ordering: .relaxed) {
            heartbeat.add(1, ordering: .relaxed)
            let n = epoll.wait(into: &ready, timeoutMilliseconds: housekeepingDue ? 100 : 1000)
            if n < 0 {
                if errno == EINTR { continue }
                log.error("epoll_wait failed: \(SystemError("epoll_wait")); the daemon cannot continue")
                exit(1)
            }
            // New connections first, and again whenever a turn has run long: when the store is
            // behind, each client's batch waits on it, and probectl waits on its connection.
            if ready[0..<n].contains(listenFD) { acceptAll() }
            var checked = monotonicNanoseconds()
            for i in 0..<n {
                let fd = ready[i]
                if fd == listenFD {
                    continue
                } else if fd == wakeRead {
                    serveBarriers()
                } else {
                    readMessages(fd, limit: 64)
                    let now = monotonicNanoseconds()
                    if now &- checked > 20_000_000 && accepting.load(ordering: .relaxed) && !acceptPaused {
                        acceptAll()
                        checked = now
                    }
                }
            }
            if housekeepingDue { housekeeping() }
        }
    }

    // MARK: Accept

    func acceptAll() {
        while true {
            let fd = UnixSocket.accept(listenFD)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                // Out of descriptors: refuse the waiting peers through the spare one (or stop
                // watching the socket), never spin on a listening socket that stays readable.
                if (errno == EMFILE || errno == ENFILE) && refuseAtDescriptorLimit(errno) { continue }
                return
            }
            if connections.count >= limits.maxConnections {
                refuseAtConnectionLimit(fd)
                continue
            }
            guard let peer = UnixSocket.peerCredentials(fd) else {
                close(fd)
                continue
            }
            guard policy.allows(peer, fd: fd) else {
                peerLog.write(.warning, "refused connection from pid \(peer.pid) uid \(peer.uid) gid \(peer.gid): not allowed by policy (daemon uid \(geteuid()); see --allow-group)")
                UnixSocket.send(fd, WireEncoder.error(WireError(.refused, "uid \(peer.uid) is not allowed to connect to this probed")), flags: Int32(MSG_DONTWAIT))
                close(fd)
                continue
            }
            let id = nextID
            nextID += 1
            connections[fd] = Connection(id: id, fd: fd, peer: peer)
            helloDeadlines.add(fd: fd, id: id, now: monotonicNanoseconds())
            watch(fd)
            // probectl sends its request right after connecting: serve it now, not after a turn
            // of the busy clients (HELLO likewise).
            readMessages(fd, limit: 1)
        }
    }

    // MARK: Read

    /// Reads up to `limit` messages from `fd` (fairness: one busy client cannot starve the rest),
    /// stopping once `bytes` have been read (a barrier reads what was queued when it was asked).
    func readMessages(_ fd: Int32, limit: Int, bytes: Int = .max) {
        defer { acknowledge(fd) }
        var left = bytes
        for _ in 0..<limit {
            guard left > 0, connections[fd] != nil else { return }
            let n = UnixSocket.receive(fd, into: receiveBuffer, flags: Int32(MSG_DONTWAIT))
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                // A peer that closes with messages of ours unread (ACKs) resets the connection: Linux
                // reports ECONNRESET once, ahead of what the peer sent last. Read that; the end of
                // stream (0) follows it, so nothing the client handed the kernel goes uncounted.
                if errno == ECONNRESET { continue }
                closeConnection(fd)
                return
            }
            left -= n
            if n == 0 {
                closeConnection(fd)
                return
            }
            if n > WireProtocol.maxMessageBytes {
                reject(fd, WireError(.oversized, "message of \(n) bytes exceeds the limit of \(WireProtocol.maxMessageBytes)"))
                return
            }
            do {
                try handle(fd, UnsafeRawBufferPointer(start: receiveBuffer.baseAddress, count: n))
            } catch {
                reject(fd, error)
                return
            }
            if connections[fd]?.role == .control { return }
        }
    }

    func handle(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(WireError) {
        let message = try WireDecoder.decode(bytes)
        var c = connections[fd]!
        // Ids are bounded per connection (4,096 of each kind); the names all open connections
        // hold are bounded together, so many connections cannot add up to unbounded memory.
        var nameCost = 0
        if c.role == .client, case .define(let d) = message, !c.session.isBound(d) {
            nameCost = ConnectionLimits.nameBytes(d.name)
            guard nameBytes + nameCost <= nameBudgetBytes else {
                throw WireError(.limitExceeded, "probed holds \(nameBytes >> 20) MiB of names defined by its \(clientCount) client connections, its limit; define fewer distinct names (ids are meant to be reused)")
            }
        }
        let accepted = try c.session.accept(message)
        if case .hello(let hello) = accepted {
            guard clientCount < limits.maxClients else {
                refuseOverMaxClients(fd, c, service: hello.service)
                return
            }
            clientCount += 1
        }
        nameBytes += nameCost
        c.nameBytes += nameCost
        connections[fd] = c
        if case .controlRequest(let text) = accepted {
            unwatch(fd)
            connections[fd] = nil
            control.serve(fd: fd, peer: c.peer, firstRequest: text)
            return
        }
        for item in accepted.storeItems(connection: c.id, pid: c.peer.pid, uid: c.peer.uid, bytes: bytes.count) {
            feed.submit(item)
        }
        switch accepted {
        case .hello(let hello):
            UnixSocket.send(fd, WireEncoder.welcome(Welcome(features: .all)), flags: Int32(MSG_DONTWAIT))
            log.debug("client connected: service \(hello.service) pid \(c.peer.pid) uid \(c.peer.uid)")
        case .define(let d):
            sendThresholdIfSet(fd, d)
        case .events(_, let records):
            connections[fd]?.eventsAccepted &+= UInt64(records.count)
            connections[fd]?.eventsAcknowledged = .max  // an EVENTS message always gets an ACK, even an empty one
        case .callDetail(let d, let operation, let errorType):
            let entry = CallEntry(sequence: 0, service: c.service, pid: c.peer.pid, operation: operation, detail: d, errorType: errorType)
            detailLog.write(d.failed ? .warning : .info, entry.logLine)
        case .controlRequest, .memoryDeltas:
            break
        }
    }

    /// Tells the client how many events this connection has accepted, once per read batch in
    /// which it sent EVENTS. Cumulative, so a lost ACK (client's buffer full) costs nothing:
    /// the next one covers it. The client counts what was sent but never acknowledged when a
    /// connection dies as dropped, which keeps delivered + dropped = recorded exact.
    func acknowledge(_ fd: Int32) {
        guard let c = connections[fd], c.role == .client, c.eventsAcknowledged != c.eventsAccepted else { return }
        if UnixSocket.send(fd, WireEncoder.ack(eventsAccepted: c.eventsAccepted), flags: Int32(MSG_DONTWAIT)) {
            connections[fd]?.eventsAcknowledged = c.eventsAccepted
        }
    }

    func reject(_ fd: Int32, _ error: WireError) {
        guard let c = connections[fd] else { return }
        let who = c.service.isEmpty ? "" : " (service \(c.service))"
        peerLog.write(.warning, "rejected a message from pid \(c.peer.pid) uid \(c.peer.uid)\(who) and closed its connection: \(error)")
        UnixSocket.send(fd, WireEncoder.error(error), flags: Int32(MSG_DONTWAIT))
        feed.submit(.rejected(c.id))
        closeConnection(fd)
    }

    func closeConnection(_ fd: Int32) {
        guard let c = connections.removeValue(forKey: fd) else { return }
        unwatch(fd)
        close(fd)
        owingThresholds.remove(fd)
        if acceptPaused { resumeAccepting() }
        nameBytes -= c.nameBytes
        if c.role == .client {
            clientCount -= 1
            feed.submit(.disconnected(c.id))
            log.debug("client disconnected: service \(c.service) pid \(c.peer.pid)")
        }
    }

    /// Reads what every client had queued when the barriers were asked for (not what arrives while
    /// reading: under load that never ends), then releases the waiting control sessions through the feed.
    func serveBarriers() {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &sink, sink.count) > 0 {}
        applyThresholdChanges()
        let waiting = barriers.withLock { list in
            defer { list.removeAll() }
            return list
        }
        guard !waiting.isEmpty else { return }
        for fd in Array(connections.keys) {
            readMessages(fd, limit: 4096, bytes: UnixSocket.queuedBytes(fd))
        }
        for s in waiting { feed.submit(.barrier(s)) }
    }
}
