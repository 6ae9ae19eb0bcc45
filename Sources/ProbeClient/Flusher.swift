#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire

/// The background thread's state machine: connect (with backoff), announce the service and its
/// names, ship batches, notice the daemon leaving, start again. Only this thread touches it.
struct Flusher {
    /// What a `flush` call waits for: the events recorded before it (each ring's head then), the
    /// details and memory deltas queued before it, and the drop counts then, all delivered or
    /// counted and reported. Later recording does not move it.
    struct FlushTarget {
        let request: UInt64
        let heads: [Int]
        let details: UInt64
        let memoryDeltas: UInt64
        var dropped: UInt64
        let memoryDropped: UInt64
        /// Once every target event is sent: the connection and how many records had been sent on
        /// it by then; the target's events are delivered when the ACKs reach that count.
        var sent: (connection: UInt64, records: UInt64)?
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
    /// The buffer's rings as of `ringsVersion`, and how far each is to be sent this round.
    var rings: [EventBuffer.Ring] = []
    var ringsVersion = -1
    var limits: [Int] = []
    let message: UnsafeMutableRawPointer
    /// A valid pointer for an EVENTS message of no records.
    let noRecords: UnsafeMutablePointer<EventRecord>
    var backoff: UInt64 = 50_000_000
    var nextAttempt: UInt64 = 0
    /// When the current connection's WELCOME arrived: the backoff restarts at 50 ms only after a
    /// connection that stayed up `stableConnection` (PROTOCOL.md §11.6).
    var connectedAt: UInt64 = 0
    static let stableConnection: UInt64 = 5_000_000_000
    var lastRefusal = ""
    var memory: MemoryFlushState
    /// Connections made so far; event records sent on the current one, and how many of them the
    /// daemon acknowledged.
    var connections: UInt64 = 0
    var sentOnConnection: UInt64 = 0
    var ackedOnConnection: UInt64 = 0
    var lastSend: UInt64 = 0
    var details = CallDetailFlushState()
    var target: FlushTarget?

    init(core: ProbeCore) {
        self.core = core
        message = .allocate(byteCount: WireProtocol.maxMessageBytes, alignment: 16)
        noRecords = .allocate(capacity: 1)
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
                _ = core.wakeup.wait(nanoseconds: waiting ? 1_000_000 : min(interval, 10_000_000_000))
            }
            let request = core.flushRequested.load(ordering: .acquiring)
            if target == nil && request > core.flushCompleted.load(ordering: .relaxed) {
                target = makeTarget(request)
            }
            cycle(final: stopping)
            if let t = target, reached() {
                core.flushCompleted.store(t.request, ordering: .releasing)
                target = nil
            }
            if stopping { return }
        }
    }

    /// Copies the buffer's list of rings when a ring was added.
    mutating func refreshRings() {
        let version = core.buffer.version.load(ordering: .acquiring)
        guard version != ringsVersion else { return }
        rings = core.buffer.rings()
        ringsVersion = version
        limits = rings.map { $0.tail.pointee.load(ordering: .relaxed) }
    }

    /// What flush request `request` waits for. Read after the request: everything recorded
    /// before it (in happens-before order) is below the heads read here.
    mutating func makeTarget(_ request: UInt64) -> FlushTarget {
        refreshRings()
        return FlushTarget(
            request: request, heads: rings.map { $0.head.pointee.load(ordering: .acquiring) },
            details: core.callDetails.queuedTotal, memoryDeltas: core.memoryDeltas.queuedTotal,
            dropped: core.droppedTotal(), memoryDropped: core.memoryDeltas.droppedTotal)
    }

    /// Whether the current flush target is met (see `FlushTarget`).
    mutating func reached() -> Bool {
        guard fd >= 0, var t = target else { return false }
        for (i, head) in t.heads.enumerated() where rings[i].tail.pointee.load(ordering: .relaxed) &- head < 0 {
            return false
        }
        if t.sent == nil {
            t.sent = (connections, sentOnConnection)
            target = t
        }
        // Sent on an earlier connection and not acknowledged there: counted as dropped at its end.
        if let sent = t.sent, sent.connection == connections && ackedOnConnection < sent.records { return false }
        guard reportedDropped != .max && reportedDropped >= t.dropped else { return false }
        guard details.handled >= t.details && memory.handled >= t.memoryDeltas else { return false }
        return !memory.accepted || (memory.reportedDropped != .max && memory.reportedDropped >= t.memoryDropped)
    }

    /// One pass: (re)connect if due, note how far each ring is filled, send names, then events.
    mutating func cycle(final: Bool) {
        let now = monotonicNanoseconds()
        if fd < 0 && (now >= nextAttempt || final) {
            connect()
        }
        guard fd >= 0 else { return }
        if !checkIncoming() { return }
        // Heads before names: every event below them uses a name defined before it was recorded.
        refreshRings()
        for i in rings.indices { limits[i] = rings[i].head.pointee.load(ordering: .acquiring) }
        drainMemoryDeltas()
        drainCallDetails()
        guard sendDefinitions() else { return }
        var sentAny = false
        for i in rings.indices {
            let ring = rings[i]
            var tail = ring.tail.pointee.load(ordering: .relaxed)
            while tail &- limits[i] < 0 {
                // Straight from the ring: up to its end, at most one message's worth.
                let offset = tail & ring.mask
                let n = min(limits[i] &- tail, ring.capacity - offset, WireProtocol.maxEventsPerMessage)
                let dropped = core.droppedTotal()
                let length = WireEncoder.writeEvents(
                    into: message, droppedTotal: dropped, records: UnsafePointer(ring.records + offset), count: n)
                guard sendMessage(length, nonBlocking: final) else { return }
                tail &+= n
                ring.tail.pointee.store(tail, ordering: .releasing)
                sentOnConnection &+= UInt64(n)
                reportedDropped = dropped
                sentAny = true
            }
        }
        let dropped = core.droppedTotal()
        // An empty EVENTS reports a grown drop count, or asks for an ACK that has not come.
        let awaitingAck = ackedOnConnection < sentOnConnection && now &- lastSend > 50_000_000
        if !sentAny && (dropped != reportedDropped || awaitingAck) {
            let length = WireEncoder.writeEvents(into: message, droppedTotal: dropped, records: noRecords, count: 0)
            if sendMessage(length, nonBlocking: final) { reportedDropped = dropped }
        }
        _ = sendMemoryDeltas(final: final)
        _ = sendCallDetails(final: final)
    }

    // MARK: Connection

    mutating func connect() {
        socketPath = SocketPath.forClient(explicit: core.explicitPath)
        do {
            // Under the connection lock: a fork sees the descriptor exactly when it exists.
            let s = try core.connection.withLock { fd in
                fd = try UnixSocket.connect(path: socketPath, nonBlocking: true)
                return fd
            }
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
        connections &+= 1
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
                // A flush waiting for them now waits for that drop count to be reported.
                if target != nil { target!.dropped = max(target!.dropped, core.droppedTotal()) }
            }
            sentOnConnection = 0
            ackedOnConnection = 0
            closeConnection()
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
        let (ops, errs, flags, version) = core.names.names(after: definedOperations, definedErrorTypes)
        if flagsAccepted && version != sentFlagsVersion {
            // A defined operation's flags changed: DEFINE it again with its new flags.
            let all = core.names.names(after: 0, 0).operations
            for id in sentFlags.indices where sentFlags[id] != flags[id] && id < all.count {
                let bytes = WireEncoder.define(Definition(id: UInt32(id), kind: .operation, name: all[id], flags: flags[id]))
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

    func closeConnection() {
        core.connection.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    func release() {
        closeConnection()
        core.connected.store(false, ordering: .relaxed)
        message.deallocate()
        noRecords.deallocate()
        memory.release()
    }
}
