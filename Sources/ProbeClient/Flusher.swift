#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbePosix
import ProbeWire

/// The background thread's state machine: connect (with backoff), announce the service and its
/// names, ship batches, notice the daemon leaving, start again. Only this thread touches it.
struct Flusher {
    /// Records drained from one shard and not yet accepted by the kernel.
    struct Pending {
        var records: UnsafeMutablePointer<EventRecord>
        var count = 0
        var sent = 0
        var isEmpty: Bool { sent >= count }
    }

    let core: ProbeCore
    var fd: Int32 = -1
    var socketPath = ""
    var definedOperations = 0
    var definedErrorTypes = 0
    /// Whether this connection's daemon takes DEFINE flags (WELCOME `operationFlags`), the flags
    /// it was sent for each defined id, and the names table's `flagsVersion` then.
    var flagsAccepted = false
    var sentFlags: [OperationFlags] = []
    var sentFlagsVersion: UInt64 = 0
    var reportedDropped: UInt64 = 0
    var pending: [Pending]
    /// The shard's next buffer after a drain (same capacity as the shard's own).
    var spares: [UnsafeMutablePointer<EventRecord>]
    let message: UnsafeMutableRawPointer
    var backoff: UInt64 = 50_000_000
    var nextAttempt: UInt64 = 0
    /// When the current connection's WELCOME arrived: the backoff restarts at 50 ms only after a
    /// connection that stayed up `stableConnection` (PROTOCOL.md §11.6).
    var connectedAt: UInt64 = 0
    static let stableConnection: UInt64 = 5_000_000_000
    var lastRefusal = ""
    var memory: MemoryFlushState
    /// Event records sent on the current connection, and how many of them the daemon acknowledged.
    var sentOnConnection: UInt64 = 0
    var ackedOnConnection: UInt64 = 0
    var lastSend: UInt64 = 0
    var details = CallDetailFlushState()

    init(core: ProbeCore) {
        self.core = core
        let buffer = core.buffer
        pending = (0..<buffer.shardCount).map { _ in Pending(records: .allocate(capacity: buffer.shardCapacity)) }
        spares = (0..<buffer.shardCount).map { _ in .allocate(capacity: buffer.shardCapacity) }
        message = .allocate(byteCount: WireProtocol.maxMessageBytes, alignment: 16)
        memory = MemoryFlushState(capacity: core.memoryDeltas.capacity)
    }

    mutating func run() {
        defer { release() }
        let interval = core.configuration.flushInterval.nanoseconds
        while true {
            let stopping = core.stopping.load(ordering: .acquiring)
            if !stopping {
                // While someone waits in flush(), poll for ACKs every millisecond.
                let waiting = core.flushRequested.load(ordering: .relaxed) > core.flushCompleted.load(ordering: .relaxed)
                _ = core.wakeup.wait(timeout: .now() + .nanoseconds(Int(waiting ? 1_000_000 : min(interval, 10_000_000_000))))
            }
            let request = core.flushRequested.load(ordering: .acquiring)
            cycle(final: stopping)
            if allDelivered() && fd >= 0 {
                core.flushCompleted.store(request, ordering: .releasing)
            }
            if stopping { return }
        }
    }

    /// One pass: (re)connect if due, drain the shards, send names, then events.
    mutating func cycle(final: Bool) {
        let now = monotonicNanoseconds()
        if fd < 0 && (now >= nextAttempt || final) {
            connect()
        }
        guard fd >= 0 else { return }
        if !checkIncoming() { return }
        for i in pending.indices where pending[i].isEmpty {
            let (full, n) = core.buffer.drain(i, spare: spares[i])
            spares[i] = pending[i].records
            pending[i] = Pending(records: full, count: n)
        }
        drainMemoryDeltas()
        drainCallDetails()
        guard sendDefinitions() else { return }
        var sentAny = false
        for i in pending.indices {
            while !pending[i].isEmpty {
                let n = min(pending[i].count - pending[i].sent, WireProtocol.maxEventsPerMessage)
                let dropped = core.droppedTotal()
                let length = WireEncoder.writeEvents(
                    into: message, droppedTotal: dropped, records: pending[i].records + pending[i].sent, count: n)
                guard sendMessage(length, nonBlocking: final) else { return }
                pending[i].sent += n
                sentOnConnection &+= UInt64(n)
                reportedDropped = dropped
                sentAny = true
            }
        }
        let dropped = core.droppedTotal()
        // An empty EVENTS reports a grown drop count, or asks for an ACK that has not come.
        let awaitingAck = ackedOnConnection < sentOnConnection && now &- lastSend > 50_000_000
        if !sentAny && (dropped != reportedDropped || awaitingAck) {
            let length = WireEncoder.writeEvents(into: message, droppedTotal: dropped, records: spares[0], count: 0)
            if sendMessage(length, nonBlocking: final) { reportedDropped = dropped }
        }
        _ = sendMemoryDeltas(final: final)
        _ = sendCallDetails(final: final)
    }

    func allDelivered() -> Bool {
        for i in pending.indices where !pending[i].isEmpty || !core.buffer.isEmpty(i) { return false }
        return ackedOnConnection == sentOnConnection && reportedDropped == core.droppedTotal() && memoryDelivered()
            && callDetailsDelivered()
    }

    // MARK: Connection

    mutating func connect() {
        socketPath = SocketPath.forClient(explicit: core.explicitPath)
        do {
            let s = try UnixSocket.connect(path: socketPath, nonBlocking: true)
            // Blocking from here on, with timeouts: this thread may wait, the service never does.
            let flags = fcntl(s, F_GETFL)
            _ = fcntl(s, F_SETFL, flags & ~O_NONBLOCK)
            UnixSocket.setTimeouts(s, send: 200_000_000, receive: 1_000_000_000)
            UnixSocket.setSendBuffer(s, bytes: 4 << 20)
            fd = s
        } catch {
            scheduleRetry()
            return
        }
        let hello = WireEncoder.hello(Hello(pid: UInt32(getpid()), service: core.service))
        guard UnixSocket.send(fd, hello) else { return disconnect() }
        var reply = [UInt8](repeating: 0, count: 2048)
        let n = reply.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
        guard n > 0, n <= reply.count else { return disconnect() }
        switch try? WireDecoder.decode(Array(reply[0..<n])) {
        case .welcome(let welcome):
            memory.accepted = welcome.features.contains(.memoryDeltas)
            memory.reportedDropped = .max  // report the drop count on the first batch
            details.accepted = welcome.features.contains(.callDetails)
            flagsAccepted = welcome.features.contains(.operationFlags)
            core.thresholds.clearDaemon()  // this daemon sends its thresholds again after DEFINE
        case .error(let e):
            refused(e)
            return disconnect()
        default:
            return disconnect()
        }
        definedOperations = 0
        definedErrorTypes = 0
        sentFlags = []
        sentFlagsVersion = 0
        sentOnConnection = 0
        ackedOnConnection = 0
        core.deliveredByConnection.withLock { $0.append(0) }
        reportedDropped = .max  // report the drop count on the first batch
        // Not reset here: a peer that answers WELCOME and closes would be reconnected to every
        // 50 ms forever. disconnect() resets it once a connection has stayed up.
        connectedAt = monotonicNanoseconds()
        core.connected.store(true, ordering: .relaxed)
    }

    mutating func disconnect() {
        if fd >= 0 {
            // ACKs the daemon sent before it went are still queued: count them first. What was
            // sent beyond the last ACK was not acknowledged: it is counted as dropped.
            _ = readIncoming()
            if sentOnConnection > ackedOnConnection {
                core.lostInTransit.add(sentOnConnection - ackedOnConnection, ordering: .relaxed)
            }
            sentOnConnection = 0
            ackedOnConnection = 0
            close(fd)
            if core.connected.load(ordering: .relaxed) && monotonicNanoseconds() &- connectedAt >= Flusher.stableConnection {
                backoff = 50_000_000  // it was up long enough: this drop is a new incident
            }
        }
        fd = -1
        core.connected.store(false, ordering: .relaxed)
        scheduleRetry()
    }

    /// Exponential backoff from 50 ms to 2 s, with jitter so many clients do not retry in step;
    /// back to 50 ms only after a connection stayed up 5 s (see `disconnect`).
    mutating func scheduleRetry() {
        let jitter = UInt64.random(in: 0...(backoff / 4))
        nextAttempt = monotonicNanoseconds() &+ backoff &+ jitter
        backoff = min(backoff * 2, 2_000_000_000)
    }

    /// Reads anything the daemon sent; false when it closed the connection or refused us.
    mutating func checkIncoming() -> Bool {
        if readIncoming() { return true }
        disconnect()
        return false
    }

    /// Reads every queued message (ACKs, an ERROR); false at end of stream or on an ERROR.
    mutating func readIncoming() -> Bool {
        while true {
            let n = UnixSocket.receive(fd, into: UnsafeMutableRawBufferPointer(start: message, count: WireProtocol.maxMessageBytes),
                                       flags: Int32(MSG_DONTWAIT))
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
            if n <= 0 { return false }
            let bytes = UnsafeRawBufferPointer(start: message, count: min(n, WireProtocol.maxMessageBytes))
            switch try? WireDecoder.decode(bytes) {
            case .ack(let accepted)?:
                // Cumulative; an older or impossible count is ignored.
                guard accepted > ackedOnConnection, accepted <= sentOnConnection else { continue }
                core.delivered.add(accepted - ackedOnConnection, ordering: .relaxed)
                ackedOnConnection = accepted
                core.deliveredByConnection.withLock { $0[$0.count - 1] = accepted }
            case .error(let e)?:
                refused(e)
                return false
            case .threshold(let operation, let ns)?:
                core.thresholds.setDaemon(operation, nanoseconds: ns)
            default:
                continue
            }
        }
    }

    mutating func refused(_ e: WireError) {
        let text = "probe: probed at \(socketPath) refused service \(core.service): \(e)"
        if text != lastRefusal {
            writeLog(text)
            lastRefusal = text
        }
    }

    /// Sends DEFINE for every name added since the last call (all of them after a reconnect),
    /// and again for a defined operation whose flags changed (when the daemon takes flags).
    mutating func sendDefinitions() -> Bool {
        let (ops, errs, flags, names, version) = core.names.withLock { n in
            let redefine = flagsAccepted && n.flagsVersion != sentFlagsVersion
            return (Array(n.operationNames.dropFirst(definedOperations)), Array(n.errorTypeNames.dropFirst(definedErrorTypes)),
                    flagsAccepted ? n.operationFlags : [], redefine ? n.operationNames : [], n.flagsVersion)
        }
        if !names.isEmpty {
            for id in sentFlags.indices where sentFlags[id] != flags[id] {
                let bytes = WireEncoder.define(Definition(id: UInt32(id), kind: .operation, name: names[id], flags: flags[id]))
                guard UnixSocket.send(fd, bytes) else { return failedSend() }
                sentFlags[id] = flags[id]
            }
            sentFlagsVersion = version
        }
        for name in ops {
            let id = definedOperations
            let declared = flagsAccepted ? flags[id] : []
            let bytes = WireEncoder.define(Definition(id: UInt32(id), kind: .operation, name: name, flags: declared))
            guard UnixSocket.send(fd, bytes) else { return failedSend() }
            definedOperations += 1
            sentFlags.append(declared)
        }
        for name in errs {
            let bytes = WireEncoder.define(Definition(id: UInt32(definedErrorTypes + 1), kind: .errorType, name: name))
            guard UnixSocket.send(fd, bytes) else { return failedSend() }
            definedErrorTypes += 1
        }
        return true
    }

    mutating func sendMessage(_ length: Int, nonBlocking: Bool) -> Bool {
        let ok = UnixSocket.send(fd, UnsafeRawBufferPointer(start: message, count: length),
                                 flags: nonBlocking ? Int32(MSG_DONTWAIT) : 0)
        if ok { lastSend = monotonicNanoseconds() }
        return ok || failedSend()
    }

    /// A send failed: a full socket (daemon slow or stopped) keeps the connection and retries
    /// later; anything else means the daemon is gone. Unsent records stay pending either way and
    /// are delivered after the next connect.
    mutating func failedSend() -> Bool {
        let e = errno
        if e != EAGAIN && e != EWOULDBLOCK && e != EINTR { disconnect() }
        return false
    }

    func release() {
        if fd >= 0 { close(fd) }
        core.connected.store(false, ordering: .relaxed)
        for p in pending { p.records.deallocate() }
        for s in spares { s.deallocate() }
        message.deallocate()
        memory.release()
    }
}
