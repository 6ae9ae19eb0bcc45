import ProbeStatistics

/// The last `capacity` samples of one process, oldest first: a ring buffer, so its memory is
/// fixed however long the process lives.
struct MemoryHistory: Sendable {
    private var samples: [MemorySample]
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
        samples = []
        samples.reserveCapacity(self.capacity)
    }

    var count: Int { samples.count }
    var last: MemorySample? { samples.isEmpty ? nil : samples[(head + samples.count - 1) % samples.count] }

    mutating func append(_ s: MemorySample) {
        if samples.count < capacity {
            samples.append(s)
        } else {
            samples[head] = s
            head = (head + 1) % capacity
        }
    }

    /// The samples taken at or after `start`, oldest first.
    func since(_ start: UInt64) -> [MemorySample] {
        var out: [MemorySample] = []
        for i in 0..<samples.count {
            let s = samples[(head + i) % samples.count]
            if s.time >= start { out.append(s) }
        }
        return out
    }
}
