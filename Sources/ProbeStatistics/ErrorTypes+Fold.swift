/// Error-type tables that outlive their series: folded into another series' table (a process
/// that exited joins its operation's retired aggregate), or kept in a state file and read back.
extension ErrorTypeTable {
    /// Everything an `ErrorTypeTable` holds, as plain values: what a state file keeps.
    package struct Parts: Sendable, Equatable {
        /// By slot: the type, its failures since it took the slot, and Space-Saving's weight.
        package var names: [String]
        package var counts: [UInt64]
        package var weights: [UInt64]
        /// Failures of types that lost their slot.
        package var other: UInt64

        package init(names: [String], counts: [UInt64], weights: [UInt64], other: UInt64) {
            self.names = names
            self.counts = counts
            self.weights = weights
            self.other = other
        }
    }

    package var parts: Parts { Parts(names: names, counts: counts, weights: weights, other: other) }

    /// A table from `parts` of unknown origin; nil unless `record` could have left it: at most
    /// `capacity` distinct names, each with a count of at least one and a weight no smaller.
    package init?(parts p: Parts) {
        guard p.names.count <= ErrorTypeTable.capacity, p.counts.count == p.names.count, p.weights.count == p.names.count,
              Set(p.names).count == p.names.count,
              zip(p.counts, p.weights).allSatisfy({ $0 >= 1 && $0 <= $1 })
        else { return nil }
        self.init()
        names = p.names
        counts = p.counts
        weights = p.weights
        other = p.other
        for (i, name) in p.names.enumerated() { slots[name] = UInt32(i) }
    }

    /// The slot of `name`, if it holds one.
    package func slot(of name: String) -> UInt32? { slots[name] }

    /// Adds every failure `o` counted: each of its types with its count at once (Space-Saving's
    /// weighted update: the same as that many failures one by one), the most frequent first, and
    /// its `other` to this one's. Counts stay exact; a type that finds no slot here (or loses the
    /// one it took to a later type of the same fold) counts in `other`, as any type does that
    /// loses its slot. Returns where each of `o`'s slots now counts here (`slotMap[t]`, for every
    /// t up to and including `otherSlot`), and the slots here that passed to another type: the
    /// windows move what they held of those to `otherSlot` (`SeriesWindows.reassignErrorType`)
    /// before they take `o`'s windows.
    package mutating func absorb(_ o: ErrorTypeTable) -> (slotMap: [UInt32], reassigned: [UInt32]) {
        var reassigned: [UInt32] = []
        let order = o.names.indices.sorted { (o.counts[$0], o.names[$1]) > (o.counts[$1], o.names[$0]) }
        for t in order {
            let (slot, replaced) = record(o.names[t], count: o.counts[t])
            if replaced && !reassigned.contains(slot) { reassigned.append(slot) }
        }
        other &+= o.other
        var slotMap = [UInt32](repeating: ErrorTypeTable.otherSlot, count: Int(ErrorTypeTable.otherSlot) + 1)
        for (t, name) in o.names.enumerated() { slotMap[t] = slots[name] ?? ErrorTypeTable.otherSlot }
        return (slotMap, reassigned)
    }
}
