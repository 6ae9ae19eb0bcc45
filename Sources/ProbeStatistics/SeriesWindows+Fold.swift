/// Windows that outlive their series: folded into another series' windows (a process that exited
/// joins its operation's retired aggregate), or kept in a state file and read back.
extension SeriesWindows {
    /// Everything a `SeriesWindows` holds, as plain values: what a state file keeps.
    package struct Parts: Sendable {
        /// The open second, its latency and failures by error-type slot (`ErrorTypeTable`).
        package var second: UInt64
        package var open: Histogram
        package var openErrorTypes: [UInt64]
        /// By slot: the second from which the slot counts its present type (see
        /// `reassignErrorType`); empty while no slot changed hands.
        package var errorTypeSince: [UInt64]
        /// The series' totals when the open second began.
        package var openedAt: Totals
        /// Oldest first, as `slices` holds them.
        package var slices: [Slice]
        /// Every closed second, for the lifetime figures.
        package var closed: CompactHistogram

        package init(second: UInt64, open: Histogram, openErrorTypes: [UInt64], errorTypeSince: [UInt64] = [], openedAt: Totals,
                     slices: [Slice], closed: CompactHistogram) {
            self.second = second
            self.open = open
            self.openErrorTypes = openErrorTypes
            self.errorTypeSince = errorTypeSince
            self.openedAt = openedAt
            self.slices = slices
            self.closed = closed
        }
    }

    package var parts: Parts {
        Parts(second: second, open: open, openErrorTypes: openErrorTypes, errorTypeSince: errorTypeSince, openedAt: openedAt,
              slices: slices, closed: closed)
    }

    /// Windows from `parts` of unknown origin; nil unless they are windows `advance` could have
    /// left at `parts.second`: every slice in its tier (1 s, 10 s or 1 min), aligned to its width,
    /// where its age puts it, oldest first, each counting its calls and at least its errors and
    /// warm-up, its failures by error-type slot below `errorTypes` (the slots the series' table
    /// holds) or `ErrorTypeTable.otherSlot`; slots changed hands no later than the open second;
    /// the lifetime without a trailer.
    package init?(parts p: Parts, errorTypes: Int) {
        let other = Int(ErrorTypeTable.otherSlot)
        let slotExists = { (t: Int) in t < errorTypes || t == other }
        guard errorTypes <= ErrorTypeTable.capacity, p.second < 1 << 40, p.closed.trailer.isEmpty,
              p.openErrorTypes.count <= other + 1,
              p.openErrorTypes.indices.allSatisfy({ slotExists($0) || p.openErrorTypes[$0] == 0 }),
              p.errorTypeSince.count <= ErrorTypeTable.capacity, p.errorTypeSince.allSatisfy({ $0 <= p.second })
        else { return nil }
        var previous: UInt64? = nil
        for s in p.slices {
            guard SeriesWindows.tiers.contains(where: { $0.width == s.width }), s.start % s.width == 0,
                  s.start + s.width <= p.second, previous.map({ s.start > $0 }) ?? true,
                  let placed = SeriesWindows.placement(s, p.second), placed.width == s.width, placed.start == s.start
            else { return nil }
            let words = s.latency.trailer
            guard words.count >= 3, words.count % 2 == 1 else { return nil }
            let tally = s.tally
            guard tally.calls >= s.latency.totalCount, tally.errors <= tally.calls, tally.warmup <= tally.calls,
                  tally.errorTypes.allSatisfy({ slotExists(Int($0.type)) })
            else { return nil }
            previous = s.start
        }
        self.init(now: p.second * 1_000_000_000)
        open = p.open
        openErrorTypes = p.openErrorTypes
        errorTypeSince = p.errorTypeSince
        openedAt = p.openedAt
        slices = p.slices
        closed = p.closed
    }

    /// Adds `other`'s calls, second by second, to these windows: afterwards every window reads
    /// what the two read together, exactly (histograms merge exactly). Both must have been brought
    /// to the same second (`advance`, with each one's own totals); the totals of the owner of
    /// these windows must then grow by `other`'s. `typeMap[t]` is the slot here of `other`'s
    /// error-type slot `t` (`ErrorTypeTable.absorb`, which covers every slot to `otherSlot`);
    /// `other`'s slices that counted a slot for a type that has since lost it count as `otherSlot`.
    package mutating func absorb(_ other: SeriesWindows, typeMap: [UInt32]) {
        precondition(other.second == second, "fold windows brought to the same second")
        open.merge(other.open)
        for (t, c) in other.openErrorTypes.enumerated() where c > 0 {
            let mine = Int(typeMap[t])
            if mine >= openErrorTypes.count { openErrorTypes.append(contentsOf: repeatElement(0, count: mine + 1 - openErrorTypes.count)) }
            openErrorTypes[mine] &+= c
        }
        openedAt.calls &+= other.openedAt.calls
        openedAt.errors &+= other.openedAt.errors
        openedAt.warmup &+= other.openedAt.warmup
        if other.closed.totalCount > 0 {
            var lifetime = closed.histogram
            other.closed.add(to: &lifetime)
            closed = CompactHistogram(lifetime)
        }
        // Both lists are oldest first, and at the same second a slice's start decides its tier:
        // merge them by start, absorbing slices that cover the same span.
        var merged: [Slice] = []
        merged.reserveCapacity(max(33, slices.count + other.slices.count))
        var i = 0, j = 0
        while i < slices.count || j < other.slices.count {
            if j == other.slices.count || (i < slices.count && slices[i].start < other.slices[j].start) {
                merged.append(slices[i])
                i += 1
            } else if i == slices.count || other.slices[j].start < slices[i].start {
                merged.append(other.slices[j].renumbered(other.slotMap(typeMap, forSliceStarting: other.slices[j].start)))
                j += 1
            } else {
                var slice = slices[i]
                slice.absorb(other.slices[j].renumbered(other.slotMap(typeMap, forSliceStarting: other.slices[j].start)))
                merged.append(slice)
                i += 1
                j += 1
            }
        }
        slices = merged
    }

    /// `typeMap` for a slice of these windows that began at `start`: a slot that changed hands
    /// after it began counted another type there, which now counts as `otherSlot`.
    func slotMap(_ typeMap: [UInt32], forSliceStarting start: UInt64) -> [UInt32] {
        guard errorTypeSince.contains(where: { $0 > start }) else { return typeMap }
        var map = typeMap
        for (t, since) in errorTypeSince.enumerated() where start < since { map[t] = ErrorTypeTable.otherSlot }
        return map
    }
}

extension SeriesWindows.Slice {
    /// A slice of latency and counts: `latency`'s trailer holds calls, errors, warm-up calls, then
    /// (type, count) pairs (see `tally`).
    package init(start: UInt64, width: UInt64, latency: CompactHistogram) {
        self.start = start
        self.width = width
        self.latency = latency
    }

    /// This slice with its error-type indices renumbered by `typeMap`.
    func renumbered(_ typeMap: [UInt32]) -> SeriesWindows.Slice {
        let tally = self.tally
        guard tally.errorTypes.contains(where: { typeMap[Int($0.type)] != $0.type }) else { return self }
        return SeriesWindows.Slice(
            start: start, width: width, calls: tally.calls, errors: tally.errors, warmup: tally.warmup, latency: latency.histogram,
            errorTypes: tally.errorTypes.map { SeriesWindows.ErrorCount(type: typeMap[Int($0.type)], count: $0.count) })
    }
}

extension ItemStats {
    /// Everything an `ItemStats` holds, as plain values: what a state file keeps.
    package struct Parts: Sendable, Equatable {
        package var total: UInt64
        package var countedItems: UInt128
        package var countedNanoseconds: UInt128
        /// The second being filled (`UInt64.max`: none yet) and its items.
        package var openSecond: UInt64
        package var openItems: UInt64
        /// Closed seconds still in the ring, oldest first.
        package var closed: [Second]

        package init(total: UInt64, countedItems: UInt128, countedNanoseconds: UInt128, openSecond: UInt64, openItems: UInt64, closed: [Second]) {
            self.total = total
            self.countedItems = countedItems
            self.countedNanoseconds = countedNanoseconds
            self.openSecond = openSecond
            self.openItems = openItems
            self.closed = closed
        }
    }

    package struct Second: Sendable, Equatable {
        package var second: UInt64
        package var items: UInt64
        package init(second: UInt64, items: UInt64) {
            self.second = second
            self.items = items
        }
    }

    package var parts: Parts {
        var closed: [Second] = []
        for (slot, stamp) in stamps.enumerated() where stamp != .max { closed.append(Second(second: stamp, items: perSecond[slot])) }
        closed.sort { $0.second < $1.second }
        return Parts(total: total, countedItems: countedItems, countedNanoseconds: countedNanoseconds, openSecond: openSecond,
                     openItems: openItems, closed: closed)
    }

    /// Items from `parts` of unknown origin; nil when a second is past 2^40 (35,000 years), closed
    /// seconds are not distinct and before the open one, or counted items exceed the total (unless
    /// it saturated).
    package init?(parts p: Parts) {
        guard p.countedItems <= UInt128(p.total) || p.total == .max, p.openSecond == .max || p.openSecond < 1 << 40 else { return nil }
        var previous: UInt64? = nil
        for s in p.closed {
            guard s.second < 1 << 40, previous.map({ s.second > $0 }) ?? true, p.openSecond == .max || s.second < p.openSecond
            else { return nil }
            previous = s.second
        }
        self.init()
        total = p.total
        countedItems = p.countedItems
        countedNanoseconds = p.countedNanoseconds
        openSecond = p.openSecond
        openItems = p.openItems
        for s in p.closed { file(s.second, s.items) }
    }

    /// Adds `other`'s items: totals, and items per second second by second, so every `recent`
    /// reads what the two read together. Item counts saturate as `add` does; the 128-bit sums
    /// behind the per-item mean add exactly.
    package mutating func absorb(_ other: ItemStats) {
        total = total.saturatingAdd(other.total)
        countedItems &+= other.countedItems
        countedNanoseconds &+= other.countedNanoseconds
        var seconds = other.parts.closed
        if other.openSecond != .max { seconds.append(Second(second: other.openSecond, items: other.openItems)) }
        for s in seconds where s.items > 0 {
            if s.second == openSecond {
                openItems = openItems.saturatingAdd(s.items)
            } else if openSecond == .max || s.second > openSecond {
                open(s.second)
                openItems = s.items
            } else {
                file(s.second, s.items)
            }
        }
    }

    /// Adds a closed second's items to the ring, unless its slot holds a later second (then this
    /// one is more than a minute older: outside every window `recent` reads).
    mutating func file(_ second: UInt64, _ items: UInt64) {
        if perSecond.isEmpty {
            perSecond = Array(repeating: 0, count: ItemStats.seconds)
            stamps = Array(repeating: .max, count: ItemStats.seconds)
        }
        let slot = Int(second % UInt64(ItemStats.seconds))
        if stamps[slot] == second {
            perSecond[slot] = perSecond[slot].saturatingAdd(items)
        } else if stamps[slot] == .max || stamps[slot] < second {
            stamps[slot] = second
            perSecond[slot] = items
        }
    }
}
