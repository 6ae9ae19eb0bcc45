import ProbeWire

/// The flusher's share of per-call memory deltas: drained together with the event shards (so
/// every operation they name is defined first), sent as MEMORY messages, or dropped and counted
/// when the daemon's WELCOME does not list `memoryDeltas` (an older probed).
struct MemoryFlushState {
    var pending: UnsafeMutablePointer<MemoryDeltaRecord>
    var count = 0
    var sent = 0
    var spare: UnsafeMutablePointer<MemoryDeltaRecord>
    /// Whether the daemon on this connection accepts MEMORY messages.
    var accepted = false
    var reportedDropped: UInt64 = 0
    /// Deltas taken from the buffer and sent, or counted as dropped.
    var handled: UInt64 = 0

    init(capacity: Int) {
        pending = .allocate(capacity: capacity)
        spare = .allocate(capacity: capacity)
    }

    var isEmpty: Bool { sent >= count }

    func release() {
        pending.deallocate()
        spare.deallocate()
    }
}

extension Flusher {
    /// Takes the buffered deltas when the previous batch is out. Called before definitions are sent.
    mutating func drainMemoryDeltas() {
        if !memory.accepted && !memory.isEmpty {
            // Left over from a connection to a daemon that accepted them; this one does not.
            core.memoryDeltas.countDropped(memory.count - memory.sent)
            memory.handled &+= UInt64(memory.count - memory.sent)
            memory.sent = memory.count
        }
        guard memory.isEmpty else { return }
        let (full, n) = core.memoryDeltas.drain(spare: memory.spare)
        memory.spare = memory.pending
        memory.pending = full
        memory.count = n
        memory.sent = 0
        if !memory.accepted && n > 0 {
            core.memoryDeltas.countDropped(n)
            memory.handled &+= UInt64(n)
            memory.sent = n
        }
    }

    /// Sends pending deltas (and a changed drop count); false when a send failed.
    mutating func sendMemoryDeltas(final: Bool) -> Bool {
        guard memory.accepted else { return true }
        var sentAny = false
        while !memory.isEmpty {
            let n = min(memory.count - memory.sent, WireProtocol.maxMemoryDeltasPerMessage)
            let dropped = core.memoryDeltas.droppedTotal
            let length = WireEncoder.writeMemoryDeltas(
                into: message, droppedTotal: dropped, records: memory.pending + memory.sent, count: n)
            guard sendMessage(length, nonBlocking: final) else { return false }
            memory.sent += n
            memory.handled &+= UInt64(n)
            memory.reportedDropped = dropped
            sentAny = true
        }
        let dropped = core.memoryDeltas.droppedTotal
        if !sentAny && dropped != memory.reportedDropped {
            let length = WireEncoder.writeMemoryDeltas(into: message, droppedTotal: dropped, records: memory.spare, count: 0)
            guard sendMessage(length, nonBlocking: final) else { return false }
            memory.reportedDropped = dropped
        }
        return true
    }
}
