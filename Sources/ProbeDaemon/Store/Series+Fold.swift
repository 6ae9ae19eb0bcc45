extension Series {
    /// A retired aggregate of `service`'s `operation`: no calls yet, no process.
    static func retiredAggregate(service: String, operation: String, now: UInt64) -> Series {
        let s = Series(key: .retired(service: service, operation: operation), now: now)
        s.live = false
        return s
    }

    /// Folds `other` — a series of a process that is gone, or another retired aggregate — into
    /// this retired aggregate: calls, failures, warm-up, device-synchronised and slow calls, items,
    /// memory deltas, error types, the lifetime histogram and every window's slices. Afterwards each
    /// figure of each window reads what the two read together, exactly (histograms merge exactly).
    func absorb(_ other: Series, now: UInt64) {
        // Bring both to the same second: their slices then sit where their age puts them, and
        // slices of the same span merge.
        touch(now)
        other.touch(now)
        let second = max(windows.second, other.windows.second)
        if windows.second < second { touch(second * 1_000_000_000) }
        if other.windows.second < second { other.touch(second * 1_000_000_000) }
        let typeMap = other.errorTypeNames.map { UInt32(errorType($0)) }
        for (t, count) in other.errorTypeCounts.enumerated() where count > 0 { addLifetimeErrors(Int(typeMap[t]), count) }
        // The windows take the other's totals when its open second began; the totals follow at once,
        // so the open second reads the sum of both.
        windows.absorb(other.windows, typeMap: typeMap)
        calls &+= other.calls
        errors &+= other.errors
        warmup &+= other.warmup
        synchronizedCalls &+= other.synchronizedCalls
        lastSeen = max(lastSeen, other.lastSeen)
        firstSeen = min(firstSeen, other.firstSeen)
        items.absorb(other.items)
        memory.merge(other.memory)
        slowCalls &+= other.slowCalls
        retiredProcesses += other.key.isRetired ? other.retiredProcesses : 1
    }
}
