/// Failures counted by error type, at most `limit` types by name and the rest as `other`: what a
/// series, a merged row or a retired aggregate reports. Mergeable: `merge` adds another's counts
/// and then keeps the `limit` most frequent names (ties: the smaller name), folding the rest into
/// `other`, so a value never holds more than `limit` names whatever was merged into it.
package struct ErrorTypeCounts: Equatable, Sendable {
    /// The name `other` takes in reports (a type that clients call `other` is added to it).
    package static let otherName = "other"

    package let limit: Int
    package private(set) var named: [String: UInt64] = [:]
    /// Failures of types not among `named`.
    package private(set) var other: UInt64 = 0

    package init(limit: Int = ErrorTypeTable.capacity) {
        self.limit = max(1, limit)
    }

    package var isEmpty: Bool { named.isEmpty && other == 0 }

    /// Adds `count` failures of `name`, then keeps the most frequent.
    package mutating func add(_ name: String, _ count: UInt64) {
        guard count > 0 else { return }
        named[name, default: 0] &+= count
        if named.count > limit { keepMostFrequent() }
    }

    package mutating func addOther(_ count: UInt64) { other &+= count }

    /// Adds every count of `o`, then keeps the most frequent.
    package mutating func merge(_ o: ErrorTypeCounts) {
        for (name, count) in o.named { named[name, default: 0] &+= count }
        other &+= o.other
        if named.count > limit { keepMostFrequent() }
    }

    /// As reports show it: the names, and `other` when it counted anything.
    package var dictionary: [String: UInt64] {
        guard other > 0 else { return named }
        var d = named
        d[ErrorTypeCounts.otherName, default: 0] &+= other
        return d
    }

    private mutating func keepMostFrequent() {
        let ranked = named.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
        for (name, count) in ranked[limit...] {
            named[name] = nil
            other &+= count
        }
    }
}

/// One series' error types: at most `capacity` names, each in a slot that the series' windows
/// count failures by (`SeriesWindows.openErrorTypes`, slices' trailers), plus `otherSlot` for the
/// failures of every type without one.
///
/// Which types keep a slot is decided by the Space-Saving algorithm (Metwally, Agrawal and El
/// Abbadi, 2005): a new type takes the slot of the type with the smallest weight, and inherits
/// that weight plus one. Any type that makes up more than 1/`capacity` of the series' failures is
/// therefore sure to hold a slot, however many other names a client sends. Counts stay exact: a
/// slot counts its type's failures from the moment the type took it, and when a type loses its
/// slot, its count moves to `other` (the weights only rank). Memory: `capacity` names of at most
/// 128 bytes and three words per slot.
package struct ErrorTypeTable: Sendable {
    /// Error types kept by name per series.
    package static let capacity = 16
    /// The slot (window index) of the failures of every type without a slot of its own.
    package static let otherSlot = UInt32(capacity)

    /// By slot.
    package internal(set) var names: [String] = []
    /// Failures of each slot's type since it took the slot.
    package internal(set) var counts: [UInt64] = []
    /// Space-Saving's estimate for each slot: its count plus what it inherited.
    var weights: [UInt64] = []
    var slots: [String: UInt32] = [:]
    /// Failures not counted in a slot: of types that lost theirs.
    package internal(set) var other: UInt64 = 0

    package init() {}

    /// Counts one failure of `name`; returns its slot, and whether it took that slot from
    /// another type just now (the windows then move what they hold of the slot to `otherSlot`).
    /// `count` failures at once (a fold): Space-Saving's weighted form, the same as `count` calls.
    package mutating func record(_ name: String, count: UInt64 = 1) -> (slot: UInt32, replaced: Bool) {
        if let s = slots[name] {
            counts[Int(s)] &+= count
            weights[Int(s)] &+= count
            return (s, false)
        }
        if names.count < ErrorTypeTable.capacity {
            let s = UInt32(names.count)
            slots[name] = s
            names.append(name)
            counts.append(count)
            weights.append(count)
            return (s, false)
        }
        // The lightest slot (the first of equals: the longest held) goes to the newcomer.
        var m = 0
        for i in weights.indices where weights[i] < weights[m] { m = i }
        other &+= counts[m]
        slots[names[m]] = nil
        slots[name] = UInt32(m)
        names[m] = name
        counts[m] = count
        weights[m] &+= count
        return (UInt32(m), true)
    }

    /// Lifetime failures by type, as reports merge them.
    package var lifetime: ErrorTypeCounts {
        var c = ErrorTypeCounts()
        for (i, name) in names.enumerated() { c.add(name, counts[i]) }
        c.addOther(other)
        return c
    }

    /// Heap bytes held: names (with their string storage), the index and the per-slot words.
    package var footprintBytes: Int {
        let text = names.reduce(0) { $0 + ($1.utf8.count > 15 ? 32 + $1.utf8.count : 0) }
        return text + names.capacity * 16 + (counts.capacity + weights.capacity) * 8 + slots.capacity * 24 + (names.isEmpty ? 0 : 4 * 32)
    }
}
