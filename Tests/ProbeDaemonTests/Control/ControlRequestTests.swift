@testable import ProbeDaemon
import Testing

/// Control requests are decoded without Foundation's JSONSerialization: what each command reads
/// from its arguments, and the error every malformed request gets.
@Suite struct ControlRequestTests {
    @Test func parse_readsTheCommandAndKeepsTheArguments() throws {
        let r = try ControlRequest.parse(#"{"command":"stats","window":"1m","extra":[1,{"a":null}]}"#)
        #expect(r.command == "stats")
        #expect(r.arguments["window"] == .string("1m"))
        #expect(r.arguments["extra"] == .array([.number(1, exact: 1), .object(["a": .null])]))
    }

    @Test(arguments: ["", "[]", "\"stats\"", "{", "{\"command\":\"stats\"} trailing", "{\"command\":1}", "{\"window\":\"1m\"}"])
    func parse_refusesWhatIsNotAnObjectWithACommandString(_ text: String) {
        #expect(throws: ControlRequest.Invalid.self) { try ControlRequest.parse(text) }
    }

    @Test func threshold_takesWholeNanoseconds_exactToUInt64_orWrittenWithAnExponent() throws {
        func ns(_ value: String) throws -> UInt64 {
            try ControlRequest.parse(#"{"command":"threshold","operation":"predict","threshold_ns":\#(value)}"#).thresholdArguments().nanoseconds
        }
        #expect(try ns("50000000") == 50_000_000)
        #expect(try ns("5e7") == 50_000_000)
        #expect(try ns("0") == 0)
        #expect(try ns("18446744073709551615") == UInt64.max)
        for bad in ["-1", "1.5", "true", "\"50ms\"", "null", "1e400"] {
            #expect(throws: ControlRequest.Invalid.self, "threshold_ns \(bad)") { try ns(bad) }
        }
    }

    @Test func operationFilterAndFollow_acceptOnlyTheirTypes() throws {
        #expect(try ControlRequest.parse(#"{"command":"slow"}"#).operationFilter() == nil)
        #expect(try ControlRequest.parse(#"{"command":"slow","operation":"predict"}"#).operationFilter() == "predict")
        #expect(throws: ControlRequest.Invalid.self) { try ControlRequest.parse(#"{"command":"slow","operation":7}"#).operationFilter() }
        #expect(try ControlRequest.parse(#"{"command":"errors","follow":true}"#).follows)
        #expect(try !ControlRequest.parse(#"{"command":"errors","follow":1}"#).follows, "a number is not true")
        #expect(try !ControlRequest.parse(#"{"command":"stats","follow":true}"#).follows, "only slow and errors follow")
    }
}
