import Foundation

// Seeded, reproducible samples and exact reference figures, shared by the statistics and daemon tests.

/// A seeded generator so failures reproduce.
package struct SeededRandom: RandomNumberGenerator {
    package var state: UInt64
    package init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    package mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    package mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

package enum Distribution: CaseIterable, CustomStringConvertible, Sendable {
    case logNormal, bimodal, uniformSixDecades

    package var description: String {
        switch self {
        case .logNormal: "log-normal"
        case .bimodal: "bimodal"
        case .uniformSixDecades: "uniform over six decades"
        }
    }

    package func sample(_ r: inout SeededRandom) -> UInt64 {
        switch self {
        case .logNormal:  // median 2 ms, sigma 1
            return UInt64(max(1, exp(log(2e6) + r.normal())))
        case .bimodal:  // fast cache hits around 40 µs, slow misses around 30 ms
            let center = r.uniform() < 0.8 ? 40_000.0 : 30_000_000.0
            return UInt64(max(1, center * exp(0.2 * r.normal())))
        case .uniformSixDecades:  // log-uniform from 1 µs to 1 s
            return UInt64(1_000 * pow(10, 6 * r.uniform()))
        }
    }
}

/// Log-uniform durations between `low` and `high` nanoseconds: every decade gets the same share
/// of the calls, so every bucket between them fills — the widest spread a series can have.
package struct LogUniform: CustomStringConvertible, Sendable {
    package var low: Double
    package var high: Double
    package init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }
    package var description: String { "log-uniform \(Int(low)) ns…\(Int(high)) ns" }

    package func sample(_ r: inout SeededRandom) -> UInt64 {
        UInt64(low * pow(high / low, r.uniform()))
    }
}

/// The exact quantile with the same definition the histogram uses: the ⌈q·n⌉-th smallest value.
package func exactQuantile(_ sorted: [UInt64], _ q: Double) -> UInt64 {
    let rank = max(1, Int((q * Double(sorted.count)).rounded(.up)))
    return sorted[rank - 1]
}

package func relativeError(_ a: UInt64, _ b: UInt64) -> Double {
    abs(Double(a) - Double(b)) / Double(b)
}
