import Synchronization

/// A small but real multilayer perceptron: dense layers with ReLU, multiplying real matrices.
/// Like a real model, its first call for each batch size is slow: it packs (transposes and
/// copies) its weights into a layout for that batch size and caches it for every thread of the
/// process, as a runtime caches a graph compiled per input shape.
final class Model: @unchecked Sendable {
    struct Layer {
        let inputs: Int
        let outputs: Int
        var weights: [Float]  // outputs × inputs
        var bias: [Float]
    }

    struct InvalidInput: Error, CustomStringConvertible {
        var row: Int
        var description: String { "input row \(row) contains NaN" }
    }

    let layers: [Layer]
    let inputWidth: Int
    /// Weights packed per batch size, shared by the workers.
    let packedByBatch = Mutex<[Int: [[Float]]]>([:])

    init(widths: [Int], seed: UInt64) {
        var rng = SplitMix(seed)
        var layers: [Layer] = []
        for (a, b) in zip(widths, widths.dropFirst()) {
            let scale = Float(1.0 / Double(a).squareRoot())
            layers.append(Layer(
                inputs: a, outputs: b,
                weights: (0..<(a * b)).map { _ in rng.nextFloat() * 2 * scale - scale },
                bias: (0..<b).map { _ in rng.nextFloat() * 0.1 }))
        }
        self.layers = layers
        inputWidth = widths[0]
    }

    /// The weights packed for `batch`, packing them on the first call for that size (a worker
    /// that asks while another packs packs too: no worker waits on another). True when this call
    /// packed: the model's warm-up, once per batch size and process, not per worker.
    func weights(for batch: Int) -> (packed: [[Float]], warmup: Bool) {
        if let cached = packedByBatch.withLock({ $0[batch] }) { return (cached, false) }
        let fresh = packed(for: batch)
        packedByBatch.withLock { $0[batch] = $0[batch] ?? fresh }
        return (fresh, true)
    }

    /// Weights packed input-major for a given batch size (what a runtime would compile per shape).
    func packed(for batch: Int) -> [[Float]] {
        layers.map { layer in
            var t = [Float](repeating: 0, count: layer.weights.count)
            for o in 0..<layer.outputs {
                for i in 0..<layer.inputs { t[i * layer.outputs + o] = layer.weights[o * layer.inputs + i] }
            }
            // A "compilation" pass per batch size, as JIT runtimes do on first use.
            var checksum: Float = 0
            for _ in 0..<max(1, 64 / batch) { for v in t { checksum += v } }
            if checksum.isNaN { t[0] = 0 }
            return t
        }
    }

    /// Forward pass over `batch` rows of `inputWidth` floats; returns the class scores.
    func forward(_ input: [Float], batch: Int, packed: [[Float]]) throws -> [Float] {
        for r in 0..<batch where input[(r * inputWidth)..<((r + 1) * inputWidth)].contains(where: \.isNaN) {
            throw InvalidInput(row: r)
        }
        var x = input
        for (l, layer) in layers.enumerated() {
            let w = packed[l]
            var y = [Float](repeating: 0, count: batch * layer.outputs)
            for r in 0..<batch {
                for o in 0..<layer.outputs { y[r * layer.outputs + o] = layer.bias[o] }
                for i in 0..<layer.inputs {
                    let xi = x[r * layer.inputs + i]
                    if xi == 0 { continue }
                    let base = i * layer.outputs
                    for o in 0..<layer.outputs { y[r * layer.outputs + o] += xi * w[base + o] }
                }
                if l < layers.count - 1 {
                    for o in 0..<layer.outputs where y[r * layer.outputs + o] < 0 { y[r * layer.outputs + o] = 0 }
                }
            }
            x = y
        }
        return x
    }
}

/// A small deterministic generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
