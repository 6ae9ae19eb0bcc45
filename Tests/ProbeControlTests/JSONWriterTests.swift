import Foundation
import ProbeControl
import Testing

/// JSONWriter writes bytes by hand (digits, escapes): every output must parse back to exactly
/// what was written, through an independent parser.
@Suite struct JSONWriterTests {
    func parse(_ w: JSONWriter) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
    }

    @Test func integers_roundTripAtTheirExtremes() throws {
        let values: [Int64] = [0, 1, 9, 10, 99, 100, -1, -10, 1_234_567_890, Int64.max, Int64.min + 1]
        var w = JSONWriter()
        w.beginObject()
        for (i, v) in values.enumerated() { w.field("i\(i)", v) }
        w.field("u64max", UInt64.max)
        w.field("u32", UInt32(4_000_000_000))
        w.field("none", Int?.none)
        w.endObject()
        let text = w.text
        for (i, v) in values.enumerated() { #expect(text.contains("\"i\(i)\":\(v)")) }
        #expect(text.contains("\"u64max\":18446744073709551615"))
        #expect(text.contains("\"u32\":4000000000"))
        #expect(text.contains("\"none\":null"))
        let parsed = try parse(w)
        #expect((parsed["i4"] as? NSNumber)?.int64Value == 99)
        #expect((parsed["i10"] as? NSNumber)?.int64Value == Int64.min + 1)
    }

    @Test func strings_escapeQuotesBackslashesAndControlCharacters_andKeepUnicode() throws {
        let tricky = "a\"b\\c\nd\re\tf\u{01}g\u{7F}h é 模型 🚀 end"
        var w = JSONWriter()
        w.beginObject()
        w.field("s", tricky)
        w.beginArray("list")
        w.element(tricky)
        w.element("")
        w.endArray()
        w.endObject()
        #expect(w.text.contains("\\u0001") && w.text.contains("\\u007f"))
        let parsed = try parse(w)
        #expect(parsed["s"] as? String == tricky)
        #expect(parsed["list"] as? [String] == [tricky, ""])
    }

    @Test func doubles_printThreeDecimalsOrAnInteger_andNonFiniteAsNull() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("whole", 42.0)
        w.field("frac", 1.23456)
        w.field("neg", -2.5)
        w.field("inf", Double.infinity)
        w.field("yes", true)
        w.field("no", Bool?.some(false))
        w.endObject()
        #expect(w.text == #"{"whole":42,"frac":1.235,"neg":-2.5,"inf":null,"yes":true,"no":false}"#)
        _ = try parse(w)
    }
}

extension JSONWriterTests {
    /// Ratios keep every digit: 43 failures of 300 calls is 14.33 %, not the 14.30 % three
    /// decimals would give (a new user's finding, issue 21).
    @Test func ratios_keepFullPrecision() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("rate", ratio: 43.0 / 300)
        w.field("none", ratio: 0)
        w.field("all", ratio: 1)
        w.field("missing", ratio: nil)
        w.endObject()
        #expect(w.text == #"{"rate":0.14333333333333334,"none":0,"all":1,"missing":null}"#)
        #expect(try parse(w)["rate"] as? Double == 43.0 / 300)
    }
}

extension JSONWriterTests {
    /// Keys of maps come from clients (error-type names): they are escaped like values.
    @Test func keys_fromClients_areEscaped() throws {
        var w = JSONWriter()
        w.beginObject("error_types")
        w.field("Timeout\"Error\\x", UInt64(3))
        w.field("plain_name", UInt64(4))
        w.endObject()
        let outer = "{" + w.text + "}"
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(outer.utf8)) as? [String: Any])
        let map = try #require(parsed["error_types"] as? [String: Any])
        #expect((map["Timeout\"Error\\x"] as? NSNumber)?.intValue == 3)
        #expect((map["plain_name"] as? NSNumber)?.intValue == 4)
    }
}
