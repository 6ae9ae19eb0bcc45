import ProbeWire
import Synchronization

/// Per-operation slow-call thresholds, read by every `measure` with one relaxed atomic load.
///
/// Each operation id has two sources: the client's own (`Probe.operation(_:slowThreshold:)`) and
/// probed's (THRESHOLD messages, set by `probectl threshold`). The smaller of the two applies, so
/// either side can only make detection more sensitive. `UInt64.max` means "none" (never slow).
/// Caveats: probed's thresholds are forgotten at each reconnect and sent again after DEFINE.
@usableFromInline
final class SlowThresholds: @unchecked Sendable {
    // (1) `@unchecked Sendable`: `effective` is written only under `configured`'s lock and read
    //     with atomic loads; the pointer itself never changes.
    struct Sources {
        var client: [UInt64]
        var daemon: [UInt64]
    }

    static let none = UInt64.max
    static let count = WireProtocol.maxOperations

    @usableFromInline
    let effective: UnsafeMutablePointer<Atomic<UInt64>>
    let configured: ForkSafeMutex<Sources>

    init() {
        effective = .allocate(capacity: SlowThresholds.count)
        for i in 0..<SlowThresholds.count { (effective + i).initialize(to: Atomic(SlowThresholds.none)) }
        configured = ForkSafeMutex(Sources(
            client: Array(repeating: SlowThresholds.none, count: SlowThresholds.count),
            daemon: Array(repeating: SlowThresholds.none, count: SlowThresholds.count)))
    }

    deinit {
        effective.deinitialize(count: SlowThresholds.count)
        effective.deallocate()
    }

    /// The threshold in ns for operation `id`; `UInt64.max` when none applies.
    @inlinable
    @inline(__always)
    func nanoseconds(_ id: UInt32) -> UInt64 {
        guard id < WireProtocol.maxOperations else { return .max }
        return effective[Int(id)].load(ordering: .relaxed)
    }

    /// Sets (or, with nil, clears) the client's own threshold for `id`.
    func setClient(_ id: UInt32, nanoseconds: UInt64?) {
        update(id) { $0.client[Int(id)] = nanoseconds.map { max($0, 1) } ?? SlowThresholds.none }
    }

    /// Sets probed's threshold for `id`; 0 clears it (as THRESHOLD says).
    func setDaemon(_ id: UInt32, nanoseconds: UInt64) {
        update(id) { $0.daemon[Int(id)] = nanoseconds == 0 ? SlowThresholds.none : nanoseconds }
    }

    /// Forgets every threshold probed sent: called on each new connection, which sends them again.
    func clearDaemon() {
        configured.withLock { s in
            for i in 0..<SlowThresholds.count where s.daemon[i] != SlowThresholds.none {
                s.daemon[i] = SlowThresholds.none
                effective[i].store(s.client[i], ordering: .relaxed)
            }
        }
    }

    private func update(_ id: UInt32, _ change: (inout Sources) -> Void) {
        guard id < WireProtocol.maxOperations else { return }
        configured.withLock { s in
            change(&s)
            effective[Int(id)].store(min(s.client[Int(id)], s.daemon[Int(id)]), ordering: .relaxed)
        }
    }
}
