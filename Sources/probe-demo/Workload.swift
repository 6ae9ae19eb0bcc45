#if canImport(Glibc)
import Glibc
#endif
import ProbeClient
import ProbePosix
import Synchronization

/// The demo's serving loop, run by several worker threads at once.
final class Workload: Sendable {
    let probe: Probe
    let model: Model
    let deadline: UInt64
    let batchSizes = [1, 4, 8, 16, 32]
    let served = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    /// What the workload saw of its own predict calls, by its own clock: the calls that packed
    /// the model's weights for their batch size (its warm-up), and the longest successful other
    /// call — what `probectl stats` should show as predict's MAX once the warm-up is kept out.
    struct PredictTimes {
        var warmupCalls = 0
        var shortestWarmup: UInt64 = .max
        var longestWarmup: UInt64 = 0
        var longestOther: UInt64 = 0
    }
    let predictTimes = Mutex(PredictTimes())

    init(probe: Probe, model: Model, deadline: UInt64) {
        self.probe = probe
        self.model = model
        self.deadline = deadline
    }

    /// Runs `workers` threads until the deadline.
    func run(workers: Int) {
        var threads: [pthread_t] = []
        for w in 0..<workers {
            var t = pthread_t()
            let context = Unmanaged.passRetained(WorkerContext(workload: self, index: w)).toOpaque()
            pthread_create(&t, nil, { raw in
                let c = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                c.workload.serve(worker: c.index)
                return nil
            }, context)
            threads.append(t)
        }
        for t in threads { pthread_join(t, nil) }
    }

    final class WorkerContext {
        let workload: Workload
        let index: Int
        init(workload: Workload, index: Int) {
            self.workload = workload
            self.index = index
        }
    }

    func serve(worker: Int) {
        var rng = SplitMix(UInt64(worker) &* 7919 &+ 1)
        // CPU-only steps say so (probed never warns them about device synchronisation); predict's
        // warm-up is per batch size, as the model's is: probed keeps the first N calls of each out.
        let preprocess = probe.operation("preprocess", deviceWork: false)
        let predict = probe.operation("predict", warmupPerItems: true)
        let postprocess = probe.operation("postprocess", deviceWork: false)
        let width = model.inputWidth
        while monotonicNanoseconds() < deadline {
            let batch = batchSizes[rng.below(batchSizes.count)]
            let input: [Float] = preprocess.measure {
                var x = (0..<(batch * width)).map { _ in rng.nextFloat() }
                if rng.below(100) < 2 { x[rng.below(x.count)] = .nan }  // a corrupt request now and then
                return x
            }
            do {
                var packedNow = false
                let began = monotonicNanoseconds()
                let scores = try predict.measure(items: batch) {  // per-item latency: MEAN/ITEM in probectl stats
                    // The first call per batch size packs the weights: the model's warm-up.
                    let (packed, warmup) = model.weights(for: batch)
                    packedNow = warmup
                    return try model.forward(input, batch: batch, packed: packed)
                }
                let took = monotonicNanoseconds() - began
                predictTimes.withLock { t in
                    if packedNow {
                        t.warmupCalls += 1
                        t.shortestWarmup = min(t.shortestWarmup, took)
                        t.longestWarmup = max(t.longestWarmup, took)
                    } else {
                        t.longestOther = max(t.longestOther, took)
                    }
                }
                _ = postprocess.measure {
                    (0..<batch).map { r in (0..<10).max { scores[r * 10 + $0] < scores[r * 10 + $1] }! }
                }
                served.add(batch, ordering: .relaxed)
            } catch {
                failed.add(1, ordering: .relaxed)
            }
        }
    }
}
