/// Warm-up filters that outlive their process: the warm-up calls a state file keeps, so a series
/// continued after a restart neither warms up again nor loses a call that a late, earlier-started
/// call would have displaced; and what a retired aggregate keeps of its processes' (the count of
/// calls past the tracked items values: their warm-up calls can never be displaced any more, as
/// no call of theirs will arrive).
extension WarmupFilter {
    /// One set of warm-up calls (the whole series', or one items value's): `parts` gives them
    /// earliest-started first (ties: earliest arrived), `init(parts:limit:)` takes any order.
    package struct CallsParts: Sendable {
        package var calls: [Call]
        /// No call is admitted without displacing one (the set reached its limit).
        package var full: Bool

        package init(calls: [Call], full: Bool) {
            self.calls = calls
            self.full = full
        }
    }

    /// Everything a `WarmupFilter` holds but its limit, as plain values: what a state file keeps.
    package struct Parts: Sendable {
        package var perItems: Bool
        package var whole: CallsParts
        /// By items value, ascending.
        package var byItems: [(items: UInt32, calls: CallsParts)]
        package var untrackedCalls: UInt64

        package init(perItems: Bool, whole: CallsParts, byItems: [(items: UInt32, calls: CallsParts)], untrackedCalls: UInt64) {
            self.perItems = perItems
            self.whole = whole
            self.byItems = byItems
            self.untrackedCalls = untrackedCalls
        }
    }

    package var parts: Parts {
        Parts(perItems: perItems, whole: whole.parts,
              byItems: byItems.keys.sorted().map { ($0, byItems[$0]!.parts) }, untrackedCalls: untrackedCalls)
    }

    /// A filter of `limit` calls per set from `parts` of unknown origin; nil when a set holds a
    /// call of another items value, more than `maxItemsValues` values are tracked, or one is twice.
    /// Saved under another `--warmup`: a set keeps its earliest-started `limit` calls (the others
    /// stay counted as the warm-up they were), and a set that was full stays full, so a series
    /// whose warm-up was over does not warm up again.
    package init?(parts p: Parts, limit: Int) {
        guard p.byItems.count <= WarmupFilter.maxItemsValues,
              Set(p.byItems.map(\.items)).count == p.byItems.count,
              p.byItems.allSatisfy({ set in set.calls.calls.allSatisfy { $0.items == set.items } })
        else { return nil }
        self.init(limit: limit)
        perItems = p.perItems
        whole = Calls(parts: p.whole, limit: self.limit)
        for set in p.byItems { byItems[set.items] = Calls(parts: set.calls, limit: self.limit) }
        untrackedCalls = p.untrackedCalls
    }

    /// Counts calls that a folded series measured without a warm-up of their own (its items value
    /// was past those tracked): a retired aggregate's figure.
    package mutating func absorbUntracked(_ calls: UInt64) {
        untrackedCalls = untrackedCalls.saturatingAdd(calls)
    }
}

extension WarmupFilter.Calls {
    var parts: WarmupFilter.CallsParts { WarmupFilter.CallsParts(calls: heap.sorted { $1.isLater(than: $0) }, full: full) }

    /// The set `parts` describes, under `limit`: the earliest-started `limit` of its calls (ties:
    /// the earliest arrived), rebuilt as a heap.
    init(parts p: WarmupFilter.CallsParts, limit: Int) {
        self.init(limit: limit)
        let kept = p.calls.sorted { $1.isLater(than: $0) }.prefix(limit)
        guard !kept.isEmpty else {
            full = full || p.full
            return
        }
        heap.reserveCapacity(limit)
        // Latest-started first is a valid max-heap: every parent is later than its children.
        heap.append(contentsOf: kept.reversed())
        full = p.full || heap.count == limit
        latestStart = heap[0].start
    }
}
