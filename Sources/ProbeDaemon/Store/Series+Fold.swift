import ProbeStatistics
import ProbeWire

extension Series {
    /// A retired aggregate of `service`'s `operation`: no calls yet, no process. It never takes
    /// a call of its own, so its warm-up filter stays empty.
    static func retiredAggregate(service: String, operation: String, now: UInt64, warmup: Int) -> Series {
        let s = Series(key: .retired(service: service, operation: operation), now: now, warmup: warmup)
        s.live = false
        return s
    }

    /// Folds `other` — a series of a process that is gone, or another retired aggregate — into
    /// this retired aggregate: calls, failures, warm-up, device-synchronised and slow calls, items
    /// (128-bit per-item sums), memory deltas (128-bit sum), error types with `other`, the warm-up
    /// calls measured without a warm-up of their own, the lifetime histogram (128-bit sum) and
    /// every window's slices. Afterwards each figure of each window reads what the two read
    /// together, exactly (histograms merge exactly); error types by name too while the aggregate
    /// has at most `ErrorTypeTable.capacity` of them (past that, `ErrorTypeTable.absorb`: a type
    /// may move to `other`, never to another name, and every count stays exact).
    ///
    /// Flags: the aggregate is `no_device_work` only while every process folded into it declared
    /// so (one that did device work makes the operation one that does), and `warmup_per_items`
    /// when any did (its warm-up counts were kept per items value). The warm-up calls themselves
    /// are not kept: no call of a process that is gone can arrive to displace one.
    func absorb(_ other: Series, now: UInt64) {
        // Bring both to the same second: their slices then sit where their age puts them, and
        // slices of the same span merge.
        touch(now)
        other.touch(now)
        let second = max(windows.second, other.windows.second)
        if windows.second < second { touch(second * 1_000_000_000) }
        if other.windows.second < second { other.touch(second * 1_000_000_000) }
        let (typeMap, reassigned) = errorTypeTable.absorb(other.errorTypeTable)
        for slot in reassigned { windows.reassignErrorType(slot) }
        // The windows take the other's totals when its open second began; the totals follow at once,
        // so the open second reads the sum of both.
        windows.absorb(other.windows, typeMap: typeMap)
        calls &+= other.calls
        errors &+= other.errors
        warmup &+= other.warmup
        synchronizedCalls &+= other.synchronizedCalls
        hot.pointee.warmupCalls.absorbUntracked(other.warmupUntracked)
        lastSeen = max(lastSeen, other.lastSeen)
        firstSeen = min(firstSeen, other.firstSeen)
        items.absorb(other.items)
        memory.merge(other.memory)
        slowCalls = slowCalls.saturatingAdd(other.slowCalls)
        let first = retiredProcesses == 0
        flags = first ? other.flags : flags.intersection(.noDeviceWork).intersection(other.flags)
            .union(flags.union(other.flags).intersection(.warmupPerItems))
        retiredProcesses += other.key.isRetired ? other.retiredProcesses : 1
    }
}
