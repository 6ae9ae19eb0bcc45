import CMallocCounter
import ProbeClient
import ProbePosix

/// `measure` against its floor in short interleaved rounds, and the same call with `items:` and
/// lazy `attributes:` on a fast, successful call under a threshold it never reaches: the
/// attributes must never be evaluated (counted) and the call must cost what a plain one does.
/// No probed (the client drops and counts, as with probed away): the figures are the call's own.
/// A burst of someone else's work lands in one round of one kind; the median per-round figures
/// shrug it off.
struct InterleavedMeasure {
    static let rounds = 41
    static let iterations = 20_000

    struct Result {
        var floor: Double, floorBest: Double
        var plain: Double, plainBest: Double
        var byName: Double
        var attributes: Double, attributesBest: Double
        var evaluations: Int
        var allocations: Double
    }

    /// Times the attributes were built: the autoclosure must never run for these calls.
    nonisolated(unsafe) static var evaluations = 0

    let probe = Probe(service: "measure-bench", socketPath: "/nonexistent/probed.sock")
    let plain: Probe.Operation
    let batched: Probe.Operation

    init() {
        plain = probe.operation("plain")
        batched = probe.operation("batched", slowThreshold: .seconds(10))
    }

    @inline(never)
    static func body(_ i: Int) -> Int { i &* 3 }

    @inline(never)
    static func shape(_ batch: Int) -> [String: String] {
        evaluations += 1
        return ["batch": String(batch), "shape": "\(batch)x3x224x224"]
    }

    @inline(never)
    func floorRound() -> Double {
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations {
            let a = monotonicNanoseconds()
            sink &+= Self.body(i)
            sink &+= Int(truncatingIfNeeded: monotonicNanoseconds() &- a)
        }
        return Double(monotonicNanoseconds() - start) / Double(Self.iterations)
    }

    @inline(never)
    func plainRound() -> (Double, Double) {
        let allocations = cmalloc_count()
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations { sink &+= plain.measure { Self.body(i) } }
        let ns = Double(monotonicNanoseconds() - start) / Double(Self.iterations)
        return (ns, Double(cmalloc_count() - allocations) / Double(Self.iterations))
    }

    @inline(never)
    func byNameRound() -> Double {
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations { sink &+= probe.measure("by-name") { Self.body(i) } }
        return Double(monotonicNanoseconds() - start) / Double(Self.iterations)
    }

    @inline(never)
    func attributesRound() -> Double {
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations { sink &+= batched.measure(items: 32, attributes: Self.shape(32)) { Self.body(i) } }
        return Double(monotonicNanoseconds() - start) / Double(Self.iterations)
    }

    func run() -> Result {
        _ = plainRound()
        _ = floorRound()
        var floors: [Double] = [], plains: [Double] = [], names: [Double] = [], attributes: [Double] = [], allocations: [Double] = []
        for _ in 0..<Self.rounds {
            let f = floorRound()
            let (p, a) = plainRound()
            floors.append(f)
            plains.append(p)
            allocations.append(a)
            names.append(byNameRound())
            attributes.append(attributesRound())
        }
        return Result(
            floor: median(floors), floorBest: floors.min()!, plain: median(plains), plainBest: plains.min()!,
            byName: median(names), attributes: median(attributes), attributesBest: attributes.min()!,
            evaluations: Self.evaluations, allocations: allocations.max()!)
    }
}
