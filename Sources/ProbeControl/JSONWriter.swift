/// Writes compact JSON with keys in the order given: faster than a generic encoder for thousands
/// of rows, and a stable layout for people reading it.
public struct JSONWriter {
    /// The UTF-8 written so far. Bytes, not a `String`: appending to a `String` costs several
    /// calls per piece, and a 9,000-row stats reply is over 100,000 pieces.
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 4096) { bytes.reserveCapacity(capacity) }

    /// The JSON text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    private mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    /// A key: ours are snake_case ASCII, but maps carry names from clients (error types), so
    /// keys are escaped like any string.
    private mutating func key(_ k: String) {
        separate()
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func beginObject(_ k: String? = nil) {
        if let k { key(k) } else { separate() }
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray(_ k: String? = nil) {
        if let k { key(k) } else { separate() }
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        if let v { appendString(v) } else { raw("null") }
    }

    public mutating func field<I: BinaryInteger>(_ k: String, _ v: I?) {
        key(k)
        guard let v else { return raw("null") }
        if let small = Int64(exactly: v) {
            appendInteger(small)
        } else {
            var text = String(v)
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
    }

    // Concrete overloads for the integer types reports use: the generic one, called from
    // another module, runs unspecialised (metadata lookups and witness calls per digit).
    public mutating func field(_ k: String, _ v: UInt64?) {
        key(k)
        guard let v else { return raw("null") }
        appendUnsigned(v)
    }

    public mutating func field(_ k: String, _ v: Int64?) {
        key(k)
        guard let v else { return raw("null") }
        appendInteger(v)
    }

    public mutating func field(_ k: String, _ v: Int?) { field(k, v.map(Int64.init)) }
    public mutating func field(_ k: String, _ v: Int32?) { field(k, v.map(Int64.init)) }
    public mutating func field(_ k: String, _ v: UInt32?) { field(k, v.map(UInt64.init)) }

    public mutating func field(_ k: String, _ v: Double?) {
        key(k)
        guard let v, v.isFinite else { return raw("null") }
        // Three decimals are plenty for rates; integers print without a fraction. A value too
        // large to scale (past 1.8e305) prints as it is: never `inf`, which is not JSON.
        let scaled = (v * 1000).rounded() / 1000
        if scaled == scaled.rounded() && abs(scaled) < 1e15 {
            appendInteger(Int64(scaled))
        } else {
            var text = String(scaled.isFinite ? scaled : v)
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
    }

    /// A ratio (0…1, such as an error rate) at full precision: the shortest decimal that reads
    /// back as the same Double, so a percentage computed from it is exact (three decimals would
    /// make 43 of 300 read 14.30 % instead of 14.33 %).
    public mutating func field(_ k: String, ratio v: Double?) {
        key(k)
        guard let v, v.isFinite else { return raw("null") }
        if v == v.rounded() && abs(v) < 1e15 { return appendInteger(Int64(v)) }
        var text = String(v)
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func field(_ k: String, _ v: Bool?) {
        key(k)
        guard let v else { return raw("null") }
        if v { raw("true") } else { raw("false") }
    }

    /// A string element of an array.
    public mutating func element(_ v: String) {
        separate()
        appendString(v)
    }

    /// Decimal digits straight into the buffer.
    private mutating func appendInteger(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendUnsigned(value.magnitude)
    }

    private mutating func appendUnsigned(_ value: UInt64) {
        var magnitude = value
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }

    /// A JSON string. Byte by byte over the UTF-8: bytes of multi-byte characters are all
    /// ≥ 0x80 and pass through; only quote, backslash and control characters are escaped.
    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s  // withUTF8 also serves small (inline) strings, which utf8's contiguous storage does not
        let plain = s.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20, 0x7F:
                let hex: StaticString = "0123456789abcdef"
                raw("\\u00")
                bytes.append(hex.utf8Start[Int(byte >> 4)])
                bytes.append(hex.utf8Start[Int(byte & 0xF)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
