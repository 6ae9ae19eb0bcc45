/// The latency and counts of one series by time: the open second in a dense `Histogram`, closed
/// seconds as compact slices that roll up into 10 s slices once older than 10 s and into 1 min
/// slices once older than a minute, then leave after 15 min; plus everything closed, merged, for
/// the lifetime figures. Windows are summed from the slices on demand.
/// Work happens only when the series is touched (an event or a query), never on a timer: an idle
/// series costs nothing until someone asks about it. Slice starts are whole seconds of the
/// daemon's clock; a slice leaves a window of W seconds exactly W seconds after it began.
public struct SeriesWindows: Sendable {
    /// Calls, failures and warm-up calls of a series so far; slices store differences of these.
    public struct Totals: Equatable, Sendable {
        @usableFromInline package var calls: UInt64 = 0
        @usableFromInline package var errors: UInt64 = 0
        @usableFromInline package var warmup: UInt64 = 0

        @inlinable public init(calls: UInt64 = 0, errors: UInt64 = 0, warmup: UInt64 = 0) {
            self.calls = calls
            self.errors = errors
            self.warmup = warmup
        }
    }

    /// Failures of one error type (an index into the series' error-type names) in a slice.
    package struct ErrorCount: Equatable, Sendable {
        package var type: UInt32
        package var count: UInt64
    }

    /// Calls that began in [start, start + width) seconds. Three words inline and one allocation:
    /// the counts ride in the latency's bytes.
    package struct Slice: Sendable {
        package var start: UInt64
        package var width: UInt64
        /// Latency of the counted calls; its trailer holds calls, errors and warm-up calls, then
        /// the failures by error type (type, count).
        package var latency: CompactHistogram

        init(start: UInt64, width: UInt64, calls: UInt64, errors: UInt64, warmup: UInt64, latency: Histogram, errorTypes: [ErrorCount]) {
            self.start = start
            self.width = width
            self.latency = CompactHistogram(
                latency, trailer: [calls, errors, warmup] + errorTypes.flatMap { [UInt64($0.type), $0.count] })
        }

        /// Calls, errors, warm-up calls and failures by error type.
        package var tally: Tally {
            let words = latency.trailer
            return Tally(
                calls: words[0], errors: words[1], warmup: words[2],
                errorTypes: stride(from: 3, to: words.count - 1, by: 2).map { ErrorCount(type: UInt32(words[$0]), count: words[$0 + 1]) })
        }
    }

    /// What a slice counted besides latency.
    package struct Tally: Sendable {
        package var calls: UInt64
        package var errors: UInt64
        package var warmup: UInt64
        package var errorTypes: [ErrorCount]
    }

    /// A tier holds slices `width` seconds wide while they start less than `keep` seconds ago.
    package static let tiers: [(width: UInt64, keep: UInt64)] = [(1, 10), (10, 60), (60, 900)]
    /// Seconds of history kept: the longest window.
    package static let horizon: UInt64 = 900

    /// The second the open slice covers.
    package internal(set) var second: UInt64
    /// Latency of the counted calls of the open second; `record` goes straight here.
    package var open = Histogram()
    /// Failures of the open second by error-type slot (`ErrorTypeTable`).
    package var openErrorTypes: [UInt64] = []
    /// By slot: the second from which the slot counts its present type (see `reassignErrorType`).
    /// Slices that began earlier counted it for a type that has since lost the slot.
    var errorTypeSince: [UInt64] = []
    /// The series' totals when the open second began.
    package internal(set) var openedAt = Totals()
    /// Closed slices, oldest first: 1 min slices, then 10 s slices, then 1 s slices.
    package internal(set) var slices: [Slice] = []
    /// Latency of every closed second, for the lifetime figures: merged in once a second, kept
    /// compact because it spans every value the series has seen.
    package internal(set) var closed = CompactHistogram()
    /// How many times a touch found a new second and rotated (instrumentation for tests).
    package private(set) var rotations: UInt64 = 0

    package init(now: UInt64) {
        second = now / 1_000_000_000
    }

    /// Closes the open second if `now` is past it and moves slices into the tier their age calls
    /// for. `totals` are the series' totals now, before any event stamped `now` is added.
    package mutating func advance(to now: UInt64, totals: Totals) {
        let nowSecond = now / 1_000_000_000
        guard nowSecond > second else { return }
        rotations &+= 1
        let calls = totals.calls &- openedAt.calls
        if calls > 0 {
            var errorTypes: [ErrorCount] = []
            for (t, c) in openErrorTypes.enumerated() where c > 0 {
                errorTypes.append(ErrorCount(type: UInt32(t), count: c))
            }
            // At most 10 + 7 + 16 slices (see `tiers`): room for them all once, not by doubling.
            if slices.capacity == 0 { slices.reserveCapacity(33) }
            slices.append(Slice(
                start: second, width: 1, calls: calls, errors: totals.errors &- openedAt.errors,
                warmup: totals.warmup &- openedAt.warmup, latency: open, errorTypes: errorTypes))
            if open.totalCount > 0 {
                var lifetime = closed.histogram
                lifetime.merge(open)
                closed = CompactHistogram(lifetime)
            }
            open.reset()
            for t in openErrorTypes.indices { openErrorTypes[t] = 0 }
        }
        openedAt = totals
        second = nowSecond
        age(nowSecond)
    }

    /// Slot `slot` has just passed to another error type (`ErrorTypeTable.record` said `replaced`):
    /// what the windows counted for it so far counts as `ErrorTypeTable.otherSlot` from now on.
    /// The open second's count moves there now; slices that began before this second are read
    /// as `other` by `figures` (a coarse slice that began earlier also reads the new type's
    /// first failures as `other`: no failure is ever counted under a name that is not its own).
    package mutating func reassignErrorType(_ slot: UInt32) {
        let s = Int(slot), other = Int(ErrorTypeTable.otherSlot)
        if s < openErrorTypes.count && openErrorTypes[s] > 0 {
            if openErrorTypes.count <= other { openErrorTypes.append(contentsOf: repeatElement(0, count: other + 1 - openErrorTypes.count)) }
            openErrorTypes[other] &+= openErrorTypes[s]
            openErrorTypes[s] = 0
        }
        if errorTypeSince.count <= s { errorTypeSince.append(contentsOf: repeatElement(0, count: s + 1 - errorTypeSince.count)) }
        errorTypeSince[s] = second
    }

    /// Rolls each slice into the coarsest tier its age needs, merging neighbours that land in the
    /// same coarse slice, and drops slices past the horizon. In place: ages only grow with the
    /// start, so the result stays sorted and merges are always with the previous slice kept.
    private mutating func age(_ nowSecond: UInt64) {
        var kept = 0
        for i in slices.indices {
            var slice = slices[i]
            guard let (width, start) = SeriesWindows.placement(slice, nowSecond) else { continue }
            if width != slice.width {
                slice.width = width
                slice.start = start
            }
            if kept > 0 && slices[kept - 1].width == width && slices[kept - 1].start == start {
                slices[kept - 1].absorb(slice)
            } else {
                slices[kept] = slice
                kept += 1
            }
        }
        slices.removeLast(slices.count - kept)
    }

    /// The tier width and aligned start a slice belongs in at `nowSecond`; nil once it is too old
    /// for every window.
    package static func placement(_ slice: Slice, _ nowSecond: UInt64) -> (width: UInt64, start: UInt64)? {
        for tier in tiers where tier.width >= slice.width {
            let start = slice.start / tier.width * tier.width
            if start + tier.keep > nowSecond { return (tier.width, start) }
        }
        return nil
    }

    /// The slice width at a window's far edge: the window slides in steps of it.
    package static func granularity(ofWindow seconds: UInt64) -> UInt64 {
        tiers.first { $0.keep >= seconds }?.width ?? tiers[tiers.count - 1].width
    }

    /// The first second a window of `seconds` covers at `nowSecond`: the earliest slice start
    /// (a multiple of the window's granularity) less than `seconds` ago.
    package static func windowStart(seconds: UInt64, nowSecond: UInt64) -> UInt64 {
        let g = granularity(ofWindow: seconds)
        let earliest = nowSecond + 1 > seconds ? nowSecond + 1 - seconds : 0
        return (earliest + g - 1) / g * g
    }

    /// Counts, error types and (when `latency` is set) the latency histogram of the last
    /// `seconds`, at the second of the last `advance`: the slices that began less than `seconds`
    /// ago and the open second. `totals` as for `advance`.
    package func figures(seconds: UInt64, totals: Totals, latency: Bool) -> Figures {
        var f = Figures()
        f.calls = totals.calls &- openedAt.calls
        f.errors = totals.errors &- openedAt.errors
        f.warmup = totals.warmup &- openedAt.warmup
        if latency { f.latency = open }
        for (t, c) in openErrorTypes.enumerated() where c > 0 { f.add(error: UInt32(t), c) }
        for s in slices.reversed() {
            guard s.start + seconds > second else { break }
            let tally = s.tally
            f.calls &+= tally.calls
            f.errors &+= tally.errors
            f.warmup &+= tally.warmup
            if latency { s.latency.add(to: &f.latency) }
            for e in tally.errorTypes {
                let t = Int(e.type)
                let stale = t < errorTypeSince.count && s.start < errorTypeSince[t]
                f.add(error: stale ? ErrorTypeTable.otherSlot : e.type, e.count)
            }
        }
        return f
    }

    /// Latency of every counted call so far.
    package var lifetimeLatency: Histogram {
        var h = closed.histogram
        h.merge(open)
        return h
    }

    /// Heap bytes held by the windows and the lifetime histogram.
    package var footprintBytes: Int {
        var bytes = open.footprintBytes + closed.footprintBytes + (openErrorTypes.capacity + errorTypeSince.capacity) * 8
        bytes += slices.capacity * MemoryLayout<Slice>.stride + (slices.capacity > 0 ? 32 : 0)
        for s in slices { bytes += s.latency.footprintBytes }
        return bytes
    }

    /// What a window holds.
    package struct Figures: Sendable {
        package var calls: UInt64 = 0
        package var errors: UInt64 = 0
        package var warmup: UInt64 = 0
        package var latency = Histogram()
        /// Failures by error-type slot (`ErrorTypeTable.otherSlot`: types without one).
        package var errorTypes: [UInt64] = []

        mutating func add(error type: UInt32, _ count: UInt64) {
            let t = Int(type)
            if t >= errorTypes.count { errorTypes.append(contentsOf: repeatElement(0, count: t + 1 - errorTypes.count)) }
            errorTypes[t] &+= count
        }
    }
}

extension SeriesWindows.Slice {
    /// Adds a slice that rolled into this one.
    mutating func absorb(_ other: SeriesWindows.Slice) {
        let mine = tally, theirs = other.tally
        var failures = mine.errorTypes
        for e in theirs.errorTypes {
            if let i = failures.firstIndex(where: { $0.type == e.type }) {
                failures[i].count &+= e.count
            } else {
                failures.append(e)
            }
        }
        var h = latency.histogram
        other.latency.add(to: &h)
        self = SeriesWindows.Slice(
            start: start, width: width, calls: mine.calls &+ theirs.calls, errors: mine.errors &+ theirs.errors,
            warmup: mine.warmup &+ theirs.warmup, latency: h, errorTypes: failures)
    }
}
