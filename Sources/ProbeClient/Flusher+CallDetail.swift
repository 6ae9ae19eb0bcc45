#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire

/// The flusher's share of slow and failed calls' details: drained with the event shards (so every
/// name they use is defined first), sent one CALL_DETAIL each after the events, or dropped and
/// counted when the daemon's WELCOME does not list `callDetails` (an older probed).
struct CallDetailFlushState {
    var pending: [CallDetail] = []
    var sent = 0
    /// Whether the daemon on this connection accepts CALL_DETAIL messages.
    var accepted = false
    /// Details taken from the queue and sent, or counted as dropped.
    var handled: UInt64 = 0

    var isEmpty: Bool { sent >= pending.count }
}

extension Flusher {
    /// Takes the queued details when the previous ones are out. Called before definitions are sent.
    mutating func drainCallDetails() {
        if !details.accepted && !details.isEmpty {
            core.callDetails.countDropped(details.pending.count - details.sent)
            details.handled &+= UInt64(details.pending.count - details.sent)
            details.sent = details.pending.count
        }
        guard details.isEmpty else { return }
        details.pending = core.callDetails.drain()
        details.sent = 0
        if !details.accepted && !details.pending.isEmpty {
            core.callDetails.countDropped(details.pending.count)
            details.handled &+= UInt64(details.pending.count)
            details.sent = details.pending.count
        }
    }

    /// Sends pending details; false when a send failed (they stay pending).
    mutating func sendCallDetails(final: Bool) -> Bool {
        guard details.accepted else { return true }
        while !details.isEmpty {
            let bytes = WireEncoder.callDetail(details.pending[details.sent])
            let ok = bytes.withUnsafeBytes {
                UnixSocket.send(fd, $0, flags: final ? Int32(MSG_DONTWAIT) : 0)
            }
            guard ok || failedSend() else { return false }
            details.sent += 1
            details.handled &+= 1
        }
        return true
    }
}
