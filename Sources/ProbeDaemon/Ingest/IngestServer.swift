// Ingest: the client side of the socket. One thread runs an epoll loop over the listening socket
// and every client connection, checks each message against its connection's state (HELLO first,
// defined ids, sizes), answers ACK, ERROR and THRESHOLD, and hands whole messages to the store in
// order through StoreFeed.
// Owns: client connections and their name tables, hello deadlines, owed thresholds, the
// threshold table, the feed's back-pressure.
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
    enum Role { case unknown, client, control }

    struct Connection {
        let id: ConnectionID
        let fd: Int32
        let peer: PeerCredentials
        var role = Role.unknown
        var service = ""
        /// Defined operation names by id (nil = undefined).
        var operations: [String?] = []
        var errorTypes: [String?] = []
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
    /// Slow-call thresholds set with `probectl threshold`, and the rate-limited log of slow and failed calls.
    let thresholds = ThresholdTable()
    lazy var detailLog = RateLimitedLog { [log] level, line in
        level == .warning ? log.warning(line) : log.info(line)
    }

    init(listenFD: Int32, feed: StoreFeed, log: Log, policy: AccessPolicy, control: ControlServer,
         helloTimeout: UInt64 = DaemonOptions.defaultHelloTimeout) throws(SystemError) {
        self.listenFD = listenFD
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
        watch(listenFD)
        watch(wakeRead)
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
                    if now &- checked > 20_000_000 && accepting.load(ordering: .relaxed) {
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
                if errno == EINTR { continue }
                if errno == EMFILE || errno == ENFILE {
                    log.warning("cannot accept more connections: \(SystemError("accept4")); raise the descriptor limit (LimitNOFILE)")
                }
                return
            }
            guard let peer = UnixSocket.peerCredentials(fd) else {
                close(fd)
                continue
            }
            guard policy.allows(peer, fd: fd) else {
                log.warning("refused connection from pid \(peer.pid) uid \(peer.uid) gid \(peer.gid): not allowed by policy (daemon uid \(geteuid()); see --allow-group)")
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
        switch (c.role, message) {
        case (.unknown, .hello(let hello)):
            guard hello.minVersion <= hello.maxVersion else {
                throw WireError(.malformed, "HELLO min_version \(hello.minVersion) is above max_version \(hello.maxVersion)")
            }
            guard hello.minVersion <= WireProtocol.version && hello.maxVersion >= WireProtocol.version else {
                throw WireError(.unsupportedVersion, "client speaks versions \(hello.minVersion)...\(hello.maxVersion); this daemon speaks 1...\(WireProtocol.version)")
            }
            c.role = .client
            c.service = hello.service
            connections[fd] = c
            feed.submit(.connected(c.id, pid: c.peer.pid, uid: c.peer.uid))
            feed.submit(.hello(c.id, service: hello.service))
            UnixSocket.send(fd, WireEncoder.welcome(Welcome(features: .all)), flags: Int32(MSG_DONTWAIT))
            log.debug("client connected: service \(hello.service) pid \(c.peer.pid) uid \(c.peer.uid)")
        case (.unknown, .controlRequest(let text)):
            unwatch(fd)
            connections[fd] = nil
            control.serve(fd: fd, peer: c.peer, firstRequest: text)
        case (.client, .define(let d)):
            try define(d, on: &c)
            connections[fd] = c
            feed.submit(.define(c.id, d))
            sendThresholdIfSet(fd, d)
        case (.client, .events(let dropped, let records)):
            for (i, r) in records.enumerated() {
                let op = Int(r.operationID)
                guard op < c.operations.count, c.operations[op] != nil else {
                    throw WireError(.unknownOperation, "record \(i) uses operation id \(r.operationID), which this connection never defined")
                }
                let et = Int(r.errorTypeID)
                guard et == 0 || (et < c.errorTypes.count && c.errorTypes[et] != nil) else {
                    throw WireError(.unknownOperation, "record \(i) uses error type id \(r.errorTypeID), which this connection never defined")
                }
            }
            feed.submit(.events(c.id, droppedTotal: dropped, records: records, bytes: bytes.count))
            connections[fd]?.eventsAccepted &+= UInt64(records.count)
            connections[fd]?.eventsAcknowledged = .max  // an EVENTS message always gets an ACK, even an empty one
        case (.client, .memoryDeltas(let dropped, let records)):
            for (i, r) in records.enumerated() {
                let op = Int(r.operationID)
                guard op < c.operations.count, c.operations[op] != nil else {
                    throw WireError(.unknownOperation, "memory record \(i) uses operation id \(r.operationID), which this connection never defined")
                }
            }
            feed.submit(.memoryDeltas(c.id, droppedTotal: dropped, records: records, bytes: bytes.count))
        case (.client, .callDetail(let d)):
            try acceptCallDetail(d, on: c, bytes: bytes.count)
        case (.unknown, _):
            throw WireError(.outOfOrder, "the first message must be HELLO (a client) or CONTROL_REQUEST (a control session), not \(message.typeName)")
        case (.client, .hello):
            throw WireError(.outOfOrder, "HELLO was already received on this connection")
        default:
            throw WireError(.outOfOrder, "\(message.typeName) is not valid from a client at this point")
        }
    }

    func define(_ d: Definition, on c: inout Connection) throws(WireError) {
        let index = Int(d.id)
        switch d.kind {
        case .operation:
            if c.operations.count <= index { c.operations.append(contentsOf: repeatElement(nil, count: index + 1 - c.operations.count)) }
            if let existing = c.operations[index], existing != d.name {
                throw WireError(.redefinition, "operation id \(d.id) is already \"\(existing)\"; ids cannot be rebound on a connection")
            }
            c.operations[index] = d.name
        case .errorType:
            if c.errorTypes.count <= index { c.errorTypes.append(contentsOf: repeatElement(nil, count: index + 1 - c.errorTypes.count)) }
            if let existing = c.errorTypes[index], existing != d.name {
                throw WireError(.redefinition, "error type id \(d.id) is already \"\(existing)\"; ids cannot be rebound on a connection")
            }
            c.errorTypes[index] = d.name
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
        log.warning("rejected a message from pid \(c.peer.pid) uid \(c.peer.uid)\(who) and closed its connection: \(error)")
        UnixSocket.send(fd, WireEncoder.error(error), flags: Int32(MSG_DONTWAIT))
        feed.submit(.rejected(c.id))
        closeConnection(fd)
    }

    func closeConnection(_ fd: Int32) {
        guard let c = connections.removeValue(forKey: fd) else { return }
        unwatch(fd)
        close(fd)
        owingThresholds.remove(fd)
        if c.role == .client {
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

extension Message {
    var typeName: String {
        switch self {
        case .hello: "HELLO"
        case .define: "DEFINE"
        case .events: "EVENTS"
        case .memoryDeltas: "MEMORY"
        case .callDetail: "CALL_DETAIL"
        case .threshold: "THRESHOLD"
        case .controlRequest: "CONTROL_REQUEST"
        case .welcome: "WELCOME"
        case .error: "ERROR"
        case .ack: "ACK"
        case .controlResponse: "CONTROL_RESPONSE"
        }
    }
}
