import ProbeStatistics
import ProbeWire

/// probed's state file: a `StateImage` in bytes.
///
/// Layout (little-endian), format version 1:
///
/// | bytes | field |
/// |---|---|
/// | 0–7 | magic `PROBEDST` |
/// | 8–11 | format version (1) |
/// | 12–15 | reserved, 0 |
/// | 16–23 | body length in bytes |
/// | 24–27 | CRC-32C of the body |
/// | 28–31 | CRC-32C of bytes 0–27 |
/// | 32– | body: sections, each a tag byte and its length-prefixed payload |
///
/// Sections: 1 meta (first), 2 counters, 3 series, 4 connections, 5 call logs, 6 thresholds.
/// Every record inside them carries its length. Growing the format: a field appended to a record,
/// or a new section, keeps version 1 — an older probed skips what it does not know, a newer one
/// reads a missing trailing field as its default. A change an older probed would misread bumps
/// the version; a probed refuses a version newer than its own (and starts empty, see StateKeeper).
/// Decoding checks every length, count, range and histogram (`CompactHistogram(validating:)`,
/// `SeriesWindows(parts:errorTypes:)`), so any bytes give an image or a `StateFileError`.
enum StateFile {
    static let magic: [UInt8] = Array("PROBEDST".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 32

    enum Section: UInt8 {
        case meta = 1, counters, series, connections, callLogs, thresholds
    }

    /// The longest name (service, operation, error type) a file may hold; the protocol's are 128 bytes.
    static let maxNameBytes = 4096
    /// Times are daemon-clock ns (wall-anchored: about 2^60.5 now) and must stay below this.
    static let maxTime: UInt64 = 1 << 62

    // MARK: Encoding

    static func encode(_ image: StateImage) -> [UInt8] {
        var body = StateWriter(capacity: 1 << 16)
        section(.meta, into: &body) { w in
            w.varint(image.clockNow)
            w.varint(image.wallNow)
            w.string(image.writer)
            w.string(image.bootID)
        }
        section(.counters, into: &body) { w in
            w.record { r in
                let c = image.counters
                for v in [c.eventsReceived, c.bytesReceived, c.messagesReceived, c.messagesRejected, c.seriesRefused,
                          c.eventsRefused, c.retiredProcesses, c.retiredDroppedEvents, c.callLogEvicted] { r.varint(v) }
            }
        }
        section(.series, into: &body) { w in
            w.varint(image.series.count)
            for s in image.series { w.record { encode(s, into: &$0) } }
        }
        section(.connections, into: &body) { w in
            w.varint(image.connections.count)
            for c in image.connections { w.record { encode(c, into: &$0) } }
        }
        section(.callLogs, into: &body) { w in
            w.varint(image.callLogs.count)
            for log in image.callLogs {
                w.record { r in
                    r.string(log.service)
                    r.string(log.operation)
                    r.varint(log.slowCount)
                    r.varint(log.failureCount)
                    r.varint(log.entries.count)
                    for e in log.entries { r.record { encode(e, into: &$0) } }
                }
            }
        }
        section(.thresholds, into: &body) { w in
            w.varint(image.thresholds.count)
            for t in image.thresholds {
                w.record { r in
                    r.string(t.operation)
                    r.varint(t.nanoseconds)
                }
            }
        }
        return file(body: body.bytes)
    }

    /// A whole file: the header for `body` (`version` as given), then `body`.
    static func file(body: [UInt8], version: UInt32 = StateFile.version) -> [UInt8] {
        var header = StateWriter(capacity: headerBytes + body.count)
        header.append(magic)
        header.fixed32(version)
        header.fixed32(0)
        header.fixed64(UInt64(body.count))
        header.fixed32(CRC32C.checksum(body))
        header.fixed32(CRC32C.checksum(header.bytes))
        header.append(body)
        return header.bytes
    }

    static func section(_ tag: Section, into w: inout StateWriter, _ body: (inout StateWriter) -> Void) {
        w.byte(tag.rawValue)
        w.record(body)
    }

    static func encode(_ s: StateImage.SeriesRecord, into w: inout StateWriter) {
        w.string(s.service)
        w.signed(Int64(s.pid))
        w.string(s.operation)
        w.varint(s.retiredProcesses)
        for v in [s.firstSeen, s.lastSeen, s.calls, s.errors, s.warmup, s.synchronizedCalls, s.slowCalls] { w.varint(v) }
        w.varint(UInt64(s.flags.rawValue))
        w.varint(s.memory.count)
        w.signed128(s.memory.totalBytes)
        w.signed(s.memory.maxBytes)
        let types = s.errorTypes.parts
        w.varint(types.names.count)
        for (i, name) in types.names.enumerated() {
            w.string(name)
            w.varint(types.counts[i])
            w.varint(types.weights[i])
        }
        w.varint(types.other)
        let warm = s.warmupCalls
        w.flag(warm.perItems)
        w.varint(warm.untrackedCalls)
        encode(warm.whole, into: &w)
        w.varint(warm.byItems.count)
        for set in warm.byItems {
            w.varint(UInt64(set.items))
            encode(set.calls, into: &w)
        }
        let items = s.items.parts
        w.varint(items.total)
        w.varint128(items.countedItems)
        w.varint128(items.countedNanoseconds)
        w.optional(items.openSecond == .max ? nil : items.openSecond)
        w.varint(items.openItems)
        w.varint(items.closed.count)
        for c in items.closed {
            w.varint(c.second)
            w.varint(c.items)
        }
        let windows = s.windows.parts
        w.varint(windows.second)
        w.varint(windows.openedAt.calls)
        w.varint(windows.openedAt.errors)
        w.varint(windows.openedAt.warmup)
        w.blob(CompactHistogram(windows.open).encodedBytes)
        w.varint(windows.openErrorTypes.count)
        for c in windows.openErrorTypes { w.varint(c) }
        w.varint(windows.errorTypeSince.count)
        for second in windows.errorTypeSince { w.varint(second) }
        w.blob(windows.closed.encodedBytes)
        w.varint(windows.slices.count)
        for slice in windows.slices {
            w.varint(slice.start)
            w.varint(slice.width)
            w.blob(slice.latency.encodedBytes)
        }
    }

    /// A set of warm-up calls: whether it is full, then each call (start, duration, arrival, items, failed).
    static func encode(_ set: WarmupFilter.CallsParts, into w: inout StateWriter) {
        w.flag(set.full)
        w.varint(set.calls.count)
        for c in set.calls {
            w.varint(c.start)
            w.varint(c.duration)
            w.varint(c.arrival)
            w.varint(UInt64(c.items))
            w.flag(c.failed)
        }
    }

    static func encode(_ c: StateImage.ConnectionRecord, into w: inout StateWriter) {
        w.string(c.service)
        w.varint(UInt64(c.pid))
        w.varint(UInt64(c.uid))
        w.string(c.state)
        w.varint(c.connectedAt)
        w.optional(c.disconnectedAt)
        for v in [c.eventsReceived, c.droppedReported, c.seriesRefused, c.eventsRefused] { w.varint(v) }
        w.varint(c.operations)
        w.flag(c.memory != nil)
        if let m = c.memory {
            encode(m.samples, into: &w)
            encode(m.rssSamples, into: &w)
            w.flag(m.latest != nil)
            if let l = m.latest {
                w.varint(l.rssBytes)
                w.varint(l.peakBytes)
                w.optional(l.anonBytes)
                w.optional(l.swapBytes)
                w.optional(l.fileBytes)
                w.optional(l.shmemBytes)
            }
            w.varint(m.samplesTaken)
            w.varint(m.sampleFailures)
            w.optional(m.suspectedSince)
            w.varint(m.deltasDropped)
        }
        w.flag(c.gpu != nil)
        if let g = c.gpu {
            encode(g.samples, into: &w)
            w.optional(g.latest)
            w.optional(g.suspectedSince)
        }
    }

    static func encode(_ samples: [MemorySample], into w: inout StateWriter) {
        w.varint(samples.count)
        for s in samples {
            w.varint(s.time)
            w.varint(s.bytes)
        }
    }

    static func encode(_ e: CallEntry, into w: inout StateWriter) {
        w.varint(UInt64(e.pid))
        w.varint(e.sequence)
        w.varint(UInt64(e.detail.flags.rawValue))
        w.varint(e.detail.startNanoseconds)
        w.varint(e.detail.startWallNanoseconds)
        w.varint(e.detail.durationNanoseconds)
        w.varint(UInt64(e.detail.items))
        w.string(e.detail.errorDescription)
        w.varint(e.detail.attributes.count)
        for a in e.detail.attributes {
            w.string(a.key)
            w.string(a.value)
        }
        w.flag(e.errorType != nil)
        if let t = e.errorType { w.string(t) }
    }

    // MARK: Decoding

    /// The image in `file`; throws what is wrong with it.
    static func decode(_ file: [UInt8]) throws(StateFileError) -> StateImage {
        guard !file.isEmpty else { throw StateFileError(.empty, "empty (0 bytes)") }
        guard file.starts(with: magic.prefix(min(file.count, magic.count))) else {
            throw StateFileError(.notStateFile, "not a probed state file (it does not begin with PROBEDST)")
        }
        guard file.count >= headerBytes else {
            throw StateFileError(.truncated, "truncated: \(file.count) bytes, shorter than the \(headerBytes)-byte header")
        }
        var header = StateReader(file, from: magic.count, to: headerBytes)
        let version = try header.fixed32()
        let reserved = try header.fixed32()
        let length = try header.fixed64()
        let bodyChecksum = try header.fixed32()
        let headerChecksum = try header.fixed32()
        guard CRC32C.checksum(Array(file[0..<28])) == headerChecksum else {
            throw StateFileError(.checksum, "header checksum mismatch (the first 32 bytes are damaged)")
        }
        guard version <= StateFile.version else {
            throw StateFileError(.newerVersion, "format version \(version), newer than this probed's \(StateFile.version) (written by a newer probed)")
        }
        guard version >= 1, reserved == 0 else { throw .corrupt("header: version \(version), reserved \(reserved)") }
        let available = UInt64(file.count - headerBytes)
        guard length <= available else {
            throw StateFileError(.truncated, "truncated: \(file.count) bytes of \(UInt64(headerBytes) + length)")
        }
        guard length == available else { throw .corrupt("\(available - length) bytes after the end of the state") }
        let computed = file.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[headerBytes...])) }
        guard computed == bodyChecksum else {
            throw StateFileError(.checksum, "checksum mismatch (stored \(hex(bodyChecksum)), computed \(hex(computed)))")
        }
        return try decodeBody(file, from: headerBytes)
    }

    static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The image in the body that starts at `start` (after a header whose checks passed).
    static func decodeBody(_ bytes: [UInt8], from start: Int = 0) throws(StateFileError) -> StateImage {
        var r = StateReader(bytes, from: start)
        var image = StateImage()
        var seen: Set<UInt8> = []
        while !r.isAtEnd {
            let tag = try r.byte()
            guard seen.insert(tag).inserted else { throw .corrupt("section \(tag) twice") }
            guard let section = Section(rawValue: tag) else {
                _ = try r.blob()  // a newer probed's section: skipped
                continue
            }
            guard section == .meta || seen.contains(Section.meta.rawValue) else { throw .corrupt("section \(tag) before the meta section") }
            try r.record { (s: inout StateReader) throws(StateFileError) in
                switch section {
                case .meta:
                    image.clockNow = try s.varint(atMost: maxTime - 1, "saved-at time")
                    image.wallNow = try s.varint()
                    image.writer = try s.string(atMost: 256)
                    image.bootID = try s.string(atMost: 64)
                case .counters:
                    image.counters = try s.record { (c: inout StateReader) throws(StateFileError) in
                        var out = StateImage.Counters()
                        out.eventsReceived = try c.varint()
                        out.bytesReceived = try c.varint()
                        out.messagesReceived = try c.varint()
                        out.messagesRejected = try c.varint()
                        out.seriesRefused = try c.varint()
                        out.eventsRefused = try c.varint()
                        out.retiredProcesses = try c.varint()
                        out.retiredDroppedEvents = try c.varint()
                        out.callLogEvicted = try c.varint()
                        return out
                    }
                case .series:
                    let n = try s.count("series")
                    var keys = Set<SeriesKey>()
                    image.series.reserveCapacity(n)
                    for _ in 0..<n {
                        let record = try s.record { (x: inout StateReader) throws(StateFileError) in try decodeSeries(&x, now: image.clockNow) }
                        guard keys.insert(SeriesKey(service: record.service, pid: record.pid, operation: record.operation)).inserted else {
                            throw .corrupt("series \(record.service)/\(record.pid)/\(record.operation) twice")
                        }
                        image.series.append(record)
                    }
                case .connections:
                    let n = try s.count("connections")
                    for _ in 0..<n {
                        image.connections.append(try s.record { (x: inout StateReader) throws(StateFileError) in try decodeConnection(&x, now: image.clockNow) })
                    }
                case .callLogs:
                    let n = try s.count("call logs")
                    var keys = Set<String>()
                    for _ in 0..<n {
                        let log = try s.record { (x: inout StateReader) throws(StateFileError) in try decodeCallLog(&x) }
                        guard keys.insert(log.service + "\u{0}" + log.operation).inserted else { throw .corrupt("call log \(log.service)/\(log.operation) twice") }
                        image.callLogs.append(log)
                    }
                case .thresholds:
                    let n = try s.count("thresholds")
                    var names = Set<String>()
                    for _ in 0..<n {
                        let t = try s.record { (x: inout StateReader) throws(StateFileError) in
                            StateImage.Threshold(operation: try x.string(atMost: maxNameBytes), nanoseconds: try x.varint())
                        }
                        guard t.nanoseconds > 0, names.insert(t.operation).inserted else { throw .corrupt("threshold of \(t.operation)") }
                        image.thresholds.append(t)
                    }
                }
            }
        }
        guard seen.contains(Section.meta.rawValue) else { throw .corrupt("no meta section") }
        return image
    }

    static func decodeSeries(_ r: inout StateReader, now: UInt64) throws(StateFileError) -> StateImage.SeriesRecord {
        let service = try r.string(atMost: maxNameBytes)
        let pid = try r.signed()
        let operation = try r.string(atMost: maxNameBytes)
        let retired = try r.varint(atMost: UInt64(Int.max), "retired processes")
        let what = "series \(service)/\(pid)/\(operation)"
        guard pid == Int64(SeriesKey.retiredPID) ? retired > 0 : (0...Int64(Int32.max)).contains(pid) && retired == 0 else {
            throw .corrupt("\(what): pid \(pid) with \(retired) retired processes")
        }
        let firstSeen = try r.varint(atMost: now, "\(what) first seen")
        let lastSeen = try r.varint(atMost: now, "\(what) last seen")
        let calls = try r.varint()
        let errors = try r.varint(atMost: calls, "\(what) errors")
        let warmup = try r.varint(atMost: calls, "\(what) warm-up calls")
        let synchronized = try r.varint(atMost: calls, "\(what) synchronised calls")
        let slow = try r.varint()
        let flags = OperationFlags(rawValue: UInt8(try r.varint(atMost: UInt64(OperationFlags.known.rawValue), "\(what) flags")))
        guard let memory = MemoryDeltaStats(count: try r.varint(), totalBytes: try r.signed128(), maxBytes: try r.signed()) else {
            throw .corrupt("\(what) memory deltas")
        }
        let typeCount = try r.count("error types", minimumBytes: 3)
        var types = ErrorTypeTable.Parts(names: [], counts: [], weights: [], other: 0)
        for _ in 0..<typeCount {
            types.names.append(try r.string(atMost: maxNameBytes))
            types.counts.append(try r.varint())
            types.weights.append(try r.varint())
        }
        types.other = try r.varint()
        guard let errorTypes = ErrorTypeTable(parts: types) else { throw .corrupt("\(what) error types") }
        let perItems = try r.flag()
        let untracked = try r.varint()
        let whole = try decodeWarmupCalls(&r, what)
        let itemSets = try r.count("warm-up items values", minimumBytes: 3)
        var byItems: [(items: UInt32, calls: WarmupFilter.CallsParts)] = []
        for _ in 0..<itemSets {
            byItems.append((UInt32(try r.varint(atMost: UInt64(UInt32.max), "\(what) warm-up items value")), try decodeWarmupCalls(&r, what)))
        }
        let warmupCalls = WarmupFilter.Parts(perItems: perItems, whole: whole, byItems: byItems, untrackedCalls: untracked)
        guard WarmupFilter(parts: warmupCalls, limit: 0) != nil else { throw .corrupt("\(what) warm-up calls") }
        let nowSecond = now / 1_000_000_000
        let total = try r.varint(), countedItems = try r.varint128(), countedNanoseconds = try r.varint128()
        let openSecond = try r.optional() ?? .max
        let openItems = try r.varint()
        let closedCount = try r.count("item seconds", minimumBytes: 2)
        var closed: [ItemStats.Second] = []
        for _ in 0..<closedCount { closed.append(ItemStats.Second(second: try r.varint(atMost: nowSecond, "\(what) item second"), items: try r.varint())) }
        guard openSecond == .max || openSecond <= nowSecond,
              let items = ItemStats(parts: .init(total: total, countedItems: countedItems, countedNanoseconds: countedNanoseconds,
                                                 openSecond: openSecond, openItems: openItems, closed: closed))
        else { throw .corrupt("\(what) items") }
        let second = try r.varint(atMost: nowSecond, "\(what) open second")
        let openedAt = SeriesWindows.Totals(calls: try r.varint(atMost: calls, "\(what) calls before the open second"),
                                            errors: try r.varint(atMost: errors, "\(what) errors before the open second"),
                                            warmup: try r.varint(atMost: warmup, "\(what) warm-up before the open second"))
        guard let open = CompactHistogram(validating: try r.blob()), open.trailer.isEmpty else { throw .corrupt("\(what) open second's histogram") }
        let openTypes = try r.count("error types of the open second")
        var openErrorTypes: [UInt64] = []
        for _ in 0..<openTypes { openErrorTypes.append(try r.varint()) }
        let reassignedTypes = try r.count("error-type slots changed hands")
        var errorTypeSince: [UInt64] = []
        for _ in 0..<reassignedTypes { errorTypeSince.append(try r.varint()) }
        guard let lifetime = CompactHistogram(validating: try r.blob()) else { throw .corrupt("\(what) lifetime histogram") }
        let sliceCount = try r.count("slices", minimumBytes: 3)
        var slices: [SeriesWindows.Slice] = []
        for _ in 0..<sliceCount {
            let start = try r.varint(atMost: nowSecond, "\(what) slice start")
            let width = try r.varint(atMost: 3600, "\(what) slice width")
            guard let latency = CompactHistogram(validating: try r.blob()) else { throw .corrupt("\(what) slice histogram") }
            slices.append(SeriesWindows.Slice(start: start, width: width, latency: latency))
        }
        let parts = SeriesWindows.Parts(second: second, open: open.histogram, openErrorTypes: openErrorTypes, errorTypeSince: errorTypeSince,
                                        openedAt: openedAt, slices: slices, closed: lifetime)
        guard let windows = SeriesWindows(parts: parts, errorTypes: errorTypes.names.count) else { throw .corrupt("\(what) windows") }
        return StateImage.SeriesRecord(
            service: service, pid: Int32(pid), operation: operation, retiredProcesses: Int(retired), firstSeen: firstSeen,
            lastSeen: lastSeen, calls: calls, errors: errors, warmup: warmup, synchronizedCalls: synchronized, slowCalls: slow,
            flags: flags, memory: memory, errorTypes: errorTypes, warmupCalls: warmupCalls, items: items, windows: windows)
    }

    static func decodeWarmupCalls(_ r: inout StateReader, _ what: String) throws(StateFileError) -> WarmupFilter.CallsParts {
        let full = try r.flag()
        let n = try r.count("\(what) warm-up calls", minimumBytes: 5)
        var calls: [WarmupFilter.Call] = []
        calls.reserveCapacity(n)
        for _ in 0..<n {
            calls.append(WarmupFilter.Call(
                start: try r.varint(), duration: try r.varint(), arrival: try r.varint(),
                items: UInt32(try r.varint(atMost: UInt64(UInt32.max), "\(what) warm-up call items")), failed: try r.flag()))
        }
        return WarmupFilter.CallsParts(calls: calls, full: full)
    }

    static let connectionStates: Set<String> = ["connected", "exited", "rejected", "restored"]

    static func decodeConnection(_ r: inout StateReader, now: UInt64) throws(StateFileError) -> StateImage.ConnectionRecord {
        let service = try r.string(atMost: maxNameBytes)
        let pid = Int32(try r.varint(atMost: UInt64(Int32.max), "connection pid"))
        let uid = UInt32(try r.varint(atMost: UInt64(UInt32.max), "connection uid"))
        let state = try r.string(atMost: 16)
        guard connectionStates.contains(state) else { throw .corrupt("connection state \(state)") }
        let connectedAt = try r.varint(atMost: now, "connection time")
        let disconnectedAt = try r.optional()
        guard disconnectedAt.map({ $0 <= now }) ?? true else { throw .corrupt("disconnection time") }
        let eventsReceived = try r.varint(), droppedReported = try r.varint(), seriesRefused = try r.varint(), eventsRefused = try r.varint()
        let operations = Int(try r.varint(atMost: 1 << 20, "connection operations"))
        var c = StateImage.ConnectionRecord(connection: ConnectionRecord(
            service: service, pid: pid, uid: uid, state: state, connectedAt: connectedAt, disconnectedAt: disconnectedAt,
            eventsReceived: eventsReceived, droppedReported: droppedReported,
            operations: operations, seriesRefused: seriesRefused, eventsRefused: eventsRefused))
        if try r.flag() {
            let samples = try decodeSamples(&r, now: now)
            let rssSamples = try decodeSamples(&r, now: now)
            var latest: ProcStatus? = nil
            if try r.flag() {
                latest = ProcStatus(rssBytes: try r.varint(), peakBytes: try r.varint(), anonBytes: try r.optional(), swapBytes: try r.optional(),
                                    fileBytes: try r.optional(), shmemBytes: try r.optional())
            }
            let taken = try r.varint(), failures = try r.varint()
            let since = try r.optional()
            guard since.map({ $0 <= now }) ?? true else { throw .corrupt("leak suspicion time") }
            c.memory = StateImage.MemoryRecord(
                samples: samples, rssSamples: rssSamples, latest: latest, samplesTaken: taken, sampleFailures: failures, suspectedSince: since,
                deltasDropped: try r.varint())
        }
        if try r.flag() {
            let samples = try decodeSamples(&r, now: now)
            let latest = try r.optional()
            let since = try r.optional()
            guard since.map({ $0 <= now }) ?? true else { throw .corrupt("GPU leak suspicion time") }
            c.gpu = StateImage.GPURecord(samples: samples, latest: latest, suspectedSince: since)
        }
        return c
    }

    static func decodeSamples(_ r: inout StateReader, now: UInt64) throws(StateFileError) -> [MemorySample] {
        let n = try r.count("memory samples", minimumBytes: 2)
        var samples: [MemorySample] = []
        samples.reserveCapacity(n)
        var previous: UInt64 = 0
        for _ in 0..<n {
            let time = try r.varint(atMost: now, "memory sample time")
            guard time >= previous else { throw .corrupt("memory samples out of order") }
            previous = time
            samples.append(MemorySample(time: time, bytes: try r.varint()))
        }
        return samples
    }

    static func decodeCallLog(_ r: inout StateReader) throws(StateFileError) -> StateImage.CallLogRecord {
        let service = try r.string(atMost: maxNameBytes)
        let operation = try r.string(atMost: maxNameBytes)
        let slowCount = try r.varint(), failureCount = try r.varint()
        let n = try r.count("call entries")
        var entries: [CallEntry] = []
        var previous: UInt64 = 0
        for _ in 0..<n {
            let e = try r.record { (x: inout StateReader) throws(StateFileError) -> CallEntry in
                let pid = Int32(try x.varint(atMost: UInt64(Int32.max), "call pid"))
                let sequence = try x.varint()
                let flags = CallDetail.Flags(rawValue: UInt32(try x.varint(atMost: UInt64(CallDetail.Flags.known.rawValue), "call flags")))
                let start = try x.varint(), startWall = try x.varint(), duration = try x.varint()
                let items = UInt32(try x.varint(atMost: UInt64(UInt32.max), "call items"))
                let message = try x.string()
                let attributeCount = try x.count("attributes", minimumBytes: 2)
                var attributes: [CallDetail.Attribute] = []
                for _ in 0..<attributeCount { attributes.append(CallDetail.Attribute(try x.string(), try x.string())) }
                let errorType = try x.flag() ? try x.string(atMost: maxNameBytes) : nil
                let detail = CallDetail(operationID: 0, flags: flags, startNanoseconds: start, startWallNanoseconds: startWall,
                                        durationNanoseconds: duration, items: items, errorDescription: message, attributes: attributes)
                return CallEntry(sequence: sequence, service: service, pid: pid, operation: operation, detail: detail, errorType: errorType)
            }
            guard e.sequence > previous else { throw .corrupt("call entries of \(service)/\(operation) out of order") }
            previous = e.sequence
            entries.append(e)
        }
        return StateImage.CallLogRecord(service: service, operation: operation, slowCount: slowCount, failureCount: failureCount, entries: entries)
    }
}
