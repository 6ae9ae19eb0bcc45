#if canImport(Glibc)
import Glibc
#endif
import ProbeWire
import Synchronization

/// Operation ids by name, for `Probe.measure("name") { … }` from any number of threads: a name
/// seen before is found with no lock, no shared write and no hashing of its text.
///
/// Design (the Python client mirrors the idea in its own terms). Two insert-only open-addressing
/// tables in raw memory, read with atomic loads and written only under `definitions`' lock, so a
/// reader never waits and never writes a cache line another core reads:
/// - **by identity**: the key is the String's two words, its bit pattern, and the table keeps
///   that String (`kept`) for its lifetime: its storage cannot be freed and its address reused
///   by another string, so equal bits mean an equal name. A literal name (a small string holds
///   its bytes; a longer literal points into the binary's constant data) costs one hash of two
///   integers and one 16-byte comparison. Keys are literals (each address one is met at) and the
///   String that defined each name, at most `slotCount / 2` in all.
/// - **by content**: a hash of the UTF-8 bytes and one `memcmp`, for a name built at run time
///   (each call a new String, so its bit pattern is new too). No lock either.
/// A name's first call takes the lock, assigns the next id and fills both tables. Past the
/// operation limit a literal is remembered as over it (found without the lock, then dropped and
/// counted); a name built at run time takes the lock on each such call.
final class OperationNames: @unchecked Sendable {
    // (1) `@unchecked Sendable`: the tables' slots are atomics, written only under `definitions`'
    //     lock; their memory lives as long as this object.

    /// What the lock guards: the names in id order (sent in DEFINE) and the keys kept alive.
    struct Definitions {
        var operationNames: [String] = []
        /// What the service declared about each operation (DEFINE flags), by id.
        var operationFlags: [OperationFlags] = []
        /// Bumped whenever a defined operation's flags change, so the flusher DEFINEs it again.
        var flagsVersion: UInt64 = 0
        var errorTypes: [String: UInt32] = [:]
        /// Index i holds error type id i + 1.
        var errorTypeNames: [String] = []
        /// The Strings whose bit patterns are identity keys: their storage must live on.
        var kept: [String] = []
        var identityEntries = 0
    }

    /// Slots in each table: twice the operation limit, so a table is at most half full (which
    /// bounds every probe sequence) and needs no resizing under readers.
    static let slotCount = 2 * WireProtocol.maxOperations

    let definitions = ForkSafeMutex(Definitions())
    let identity = SlotTable(slots: OperationNames.slotCount)
    let content = SlotTable(slots: OperationNames.slotCount)
    /// Set once the identity table holds `slotCount / 2` keys: from then on, names it lacks are
    /// found by content, without the lock.
    private let identityFull = Atomic<Bool>(false)

    init() {}

    deinit {
        content.forEachKey { _, bytes in bytes.deallocate() }
        identity.release()
        content.release()
    }

    // MARK: Operations

    /// The id of operation `name`, defined on first use; `UInt32.max` past the limit.
    @inline(__always)
    func operationID(_ name: String) -> UInt32 {
        let words = OperationNames.words(name)
        if let id = identity.find(words) { return id }
        return operationIDSlow(name, words)
    }

    /// The two words of `name`'s representation. (A String is two words on 64-bit platforms,
    /// which are the only ones ProbeClient builds for: see the static assertion in `SlotTable`.)
    @inline(__always)
    static func words(_ name: String) -> (UInt64, UInt64) {
        unsafeBitCast(name, to: (UInt64, UInt64).self)
    }

    /// Whether `words` are an immortal String's (bit 63 of the second word: small strings and
    /// literals): one worth remembering by identity whenever it is met. Only a policy: correctness
    /// rests on keeping every key's String, not on this bit.
    @inline(__always)
    static func isImmortal(_ words: (UInt64, UInt64)) -> Bool { words.1 >> 63 == 1 }

    @inline(never)
    func operationIDSlow(_ name: String, _ words: (UInt64, UInt64)) -> UInt32 {
        OperationNames.withUTF8(name) { bytes in
            let hash = SlotTable.hash(bytes)
            if let id = content.find(bytes, hash: hash) {
                // A literal met for the first time at this address: remember it by identity.
                if OperationNames.isImmortal(words) && !identityFull.load(ordering: .relaxed) {
                    definitions.withLock { rememberIdentity(name, words, id, &$0) }
                }
                return id
            }
            return definitions.withLock { d in
                if let id = content.find(bytes, hash: hash) { return id }  // defined meanwhile
                guard d.operationNames.count < WireProtocol.maxOperations else {
                    if OperationNames.isImmortal(words) { rememberIdentity(name, words, .max, &d) }
                    return .max
                }
                let id = UInt32(d.operationNames.count)
                d.operationNames.append(WireEncoder.sanitizedName(name))
                d.operationFlags.append([])
                let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
                if let base = bytes.baseAddress { copy.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
                content.insert(key: (hash, UInt64(UInt(bitPattern: copy.baseAddress))),
                               value: UInt64(bytes.count) << 32 | UInt64(id + 1), hash: hash)
                rememberIdentity(name, words, id, &d)
                return id
            }
        }
    }

    /// Adds `name` (whose bit pattern is `words`) as an identity key for `id` (`UInt32.max`: over
    /// the limit) unless it is there or the table is full. Called with the lock held.
    private func rememberIdentity(_ name: String, _ words: (UInt64, UInt64), _ id: UInt32, _ d: inout Definitions) {
        guard d.identityEntries < OperationNames.slotCount / 2, identity.find(words) == nil else { return }
        d.kept.append(name)
        identity.insert(key: words, value: UInt64(id) + 1, hash: SlotTable.hash(words))
        d.identityEntries += 1
        if d.identityEntries == OperationNames.slotCount / 2 { identityFull.store(true, ordering: .relaxed) }
    }

    /// Runs `body` with `name`'s UTF-8 bytes, without a copy or a reference count change when
    /// the String is contiguous (native and literal strings always are).
    static func withUTF8<R>(_ name: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = name.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
        var copy = name
        copy.makeContiguousUTF8()
        return copy.utf8.withContiguousStorageIfAvailable { body(UnsafeRawBufferPointer($0)) }!
    }

    // MARK: Error types

    /// The id of error type `name` (from 1), defined on first use; 0 past the limit. Failures
    /// are off the fast path: this takes the lock.
    func errorTypeID(_ name: String) -> UInt32 {
        definitions.withLock { d in
            if let id = d.errorTypes[name] { return id }
            guard d.errorTypeNames.count < WireProtocol.maxOperations - 1 else { return 0 }
            d.errorTypeNames.append(WireEncoder.sanitizedName(name))
            let id = UInt32(d.errorTypeNames.count)
            d.errorTypes[name] = id
            return id
        }
    }

    /// The names defined after the first `operations` operations and `errorTypes` error types,
    /// with every operation's flags (by id) and the version of those flags.
    func names(after operations: Int, _ errorTypes: Int)
        -> (operations: [String], errorTypes: [String], flags: [OperationFlags], flagsVersion: UInt64) {
        definitions.withLock { d in
            (Array(d.operationNames.dropFirst(operations)), Array(d.errorTypeNames.dropFirst(errorTypes)),
             d.operationFlags, d.flagsVersion)
        }
    }

    /// Declares (or withdraws) `flag` for operation `id`; a change bumps `flagsVersion`.
    func setFlag(_ flag: OperationFlags, _ on: Bool, for id: UInt32) {
        definitions.withLock { d in
            guard Int(id) < d.operationFlags.count else { return }
            let before = d.operationFlags[Int(id)]
            if on { d.operationFlags[Int(id)].insert(flag) } else { d.operationFlags[Int(id)].remove(flag) }
            if d.operationFlags[Int(id)] != before { d.flagsVersion &+= 1 }
        }
    }
}

/// An insert-only open-addressing hash table of (two-word key → value) in raw memory: slots of
/// three atomic words, [value, key0, key1], value 0 meaning empty. A writer (one at a time, under
/// a lock) stores the key, then publishes the value with a release store; a reader loads the
/// value with acquire and only then the key. Entries are never changed or removed, so a reader
/// sees a slot either empty or complete. Linear probing; the caller keeps it at most half full.
struct SlotTable: @unchecked Sendable {
    // (1) `@unchecked Sendable`: every slot word is an atomic; see above for the protocol.
    let base: UnsafeMutablePointer<Atomic<UInt64>>
    let mask: Int
    /// The mapping's size, or 0 when the memory came from the allocator instead.
    private let mappedBytes: Int

    init(slots: Int) {
        precondition(slots > 0 && slots & (slots - 1) == 0 && MemoryLayout<String>.size == 16)
        mask = slots - 1
        let bytes = slots * 3 * MemoryLayout<UInt64>.stride
        // Anonymous memory is zero (every slot empty) and costs nothing until a page is touched.
        let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if let raw, raw != MAP_FAILED {
            base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: slots * 3)
            mappedBytes = bytes
        } else {
            base = .allocate(capacity: slots * 3)
            for i in 0..<slots * 3 { (base + i).initialize(to: Atomic(0)) }
            mappedBytes = 0
        }
    }

    func release() {
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
    }

    @inline(__always)
    static func start(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash >> 40) }

    /// A hash of two words (a String's bit pattern).
    @inline(__always)
    static func hash(_ key: (UInt64, UInt64)) -> UInt64 {
        (key.0 ^ (key.1 &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
    }

    /// A hash of bytes (a name's UTF-8), eight at a time.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 29)
    }

    /// The value stored for `key` (an identity table's), as an id: value - 1.
    @inline(__always)
    func find(_ key: (UInt64, UInt64)) -> UInt32? {
        var i = SlotTable.start(SlotTable.hash(key))
        while true {
            let slot = base + (i & mask) &* 3
            let value = slot.pointee.load(ordering: .acquiring)
            if value == 0 { return nil }
            if (slot + 1).pointee.load(ordering: .relaxed) == key.0 && (slot + 2).pointee.load(ordering: .relaxed) == key.1 {
                return UInt32(truncatingIfNeeded: value &- 1)
            }
            i &+= 1
        }
    }

    /// The id stored for `bytes` in a content table (key: hash, pointer to a copy of the bytes;
    /// value: length << 32 | id + 1).
    func find(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        var i = SlotTable.start(hash)
        while true {
            let slot = base + (i & mask) &* 3
            let value = slot.pointee.load(ordering: .acquiring)
            if value == 0 { return nil }
            if (slot + 1).pointee.load(ordering: .relaxed) == hash && Int(value >> 32) == bytes.count {
                let stored = UnsafeRawPointer(bitPattern: UInt((slot + 2).pointee.load(ordering: .relaxed)))
                if bytes.count == 0 || memcmp(stored.unsafelyUnwrapped, bytes.baseAddress.unsafelyUnwrapped, bytes.count) == 0 {
                    return UInt32(truncatingIfNeeded: value & 0xFFFF_FFFF) &- 1
                }
            }
            i &+= 1
        }
    }

    /// Stores `key` → `value` (not 0) in the first empty slot of the sequence that starts at
    /// `hash`'s slot (the hash that `find` uses for this kind of table). Lock held.
    func insert(key: (UInt64, UInt64), value: UInt64, hash: UInt64) {
        var i = SlotTable.start(hash)
        while true {
            let slot = base + (i & mask) &* 3
            if slot.pointee.load(ordering: .relaxed) == 0 {
                (slot + 1).pointee.store(key.0, ordering: .relaxed)
                (slot + 2).pointee.store(key.1, ordering: .relaxed)
                slot.pointee.store(value, ordering: .releasing)
                return
            }
            i &+= 1
        }
    }

    /// Calls `body` with each content key's hash and its bytes.
    func forEachKey(_ body: (UInt64, UnsafeMutableRawPointer) -> Void) {
        for i in 0...mask {
            let slot = base + i &* 3
            guard slot.pointee.load(ordering: .acquiring) != 0,
                  let bytes = UnsafeMutableRawPointer(bitPattern: UInt((slot + 2).pointee.load(ordering: .relaxed)))
            else { continue }
            body((slot + 1).pointee.load(ordering: .relaxed), bytes)
        }
    }
}
