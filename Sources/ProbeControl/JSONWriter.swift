/// Writes compact JSON with keys in the order given: faster than a generic encoder for thousands
/// of rows, and a stable layout for people reading it.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 4096) { text.reserveCapacity(capacity) }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { text.append(",") }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func key(_ k: String) {
        separate()
        text.append("\"")
        text.append(k)  // keys are ours: snake_case ASCII, never escaped
        text.append("\":")
    }

    public mutating func beginObject(_ k: String? = nil) {
        if let k { key(k) } else { separate() }
        text.append("{")
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        text.append("}")
    }

    public mutating func beginArray(_ k: String? = nil) {
        if let k { key(k) } else { separate() }
        text.append("[")
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        text.append("]")
    }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        if let v { appendString(v) } else { text.append("null") }
    }

    public mutating func field<I: BinaryInteger>(_ k: String, _ v: I?) {
        key(k)
        if let v { text.append(String(v)) } else { text.append("null") }
    }

    public mutating func field(_ k: String, _ v: Double?) {
        key(k)
        guard let v, v.isFinite else { return text.append("null") }
        // Three decimals are plenty for rates; integers print without a fraction.
        let scaled = (v * 1000).rounded() / 1000
        if scaled == scaled.rounded() && abs(scaled) < 1e15 {
            text.append(String(Int64(scaled)))
        } else {
            text.append(String(scaled))
        }
    }

    public mutating func field(_ k: String, _ v: Bool?) {
        key(k)
        text.append(v.map { $0 ? "true" : "false" } ?? "null")
    }

    /// A string element of an array.
    public mutating func element(_ v: String) {
        separate()
        appendString(v)
    }

    private mutating func appendString(_ s: String) {
        text.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }
}
