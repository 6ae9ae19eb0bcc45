import FoundationEssentials

/// A control request: a JSON object with a `command` string and optional arguments.
struct ControlRequest {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }
    var command: String
    var arguments: [String: JSONValue]

    static func parse(_ text: String) throws(Invalid) -> ControlRequest {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)) else {
            throw Invalid(description: "the request is not a JSON object; send e.g. {\"command\":\"stats\"}")
        }
        guard case .string(let command)? = object["command"] else {
            throw Invalid(description: "the request has no \"command\" string")
        }
        return ControlRequest(command: command, arguments: object)
    }
}

/// Any JSON value, as a control request's arguments carry them. Numbers keep their exact value
/// when they are whole and fit a UInt64 (a threshold in nanoseconds), else their Double.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double, exact: UInt64?)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let bool = try? value.decode(Bool.self) {
            self = .bool(bool)
        } else if let whole = try? value.decode(UInt64.self) {
            self = .number(Double(whole), exact: whole)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number, exact: nil)
        } else if let string = try? value.decode(String.self) {
            self = .string(string)
        } else if let array = try? value.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try value.decode([String: JSONValue].self))
        }
    }

    var string: String? {
        if case .string(let s) = self { s } else { nil }
    }

    var bool: Bool? {
        if case .bool(let b) = self { b } else { nil }
    }

    /// A whole number from 0 to 1.8e19 (written 5000000 or 5e6), else nil.
    var nonNegativeInteger: UInt64? {
        guard case .number(let d, let exact) = self else { return nil }
        if let exact { return exact }
        guard d.isFinite, d >= 0, d < 1.8e19, d == d.rounded() else { return nil }
        return UInt64(d)
    }
}

extension ControlRequest {
    /// `stats`, `slow` and `errors`: the optional `operation` filter (absent, or a string).
    func operationFilter() throws(Invalid) -> String? {
        switch arguments["operation"] {
        case nil: return nil
        case .string(let name)?: return name
        default: throw Invalid(description: "\"operation\" must be a string")
        }
    }

    /// `threshold`: the operation and its threshold in nanoseconds (0 removes it).
    func thresholdArguments() throws(Invalid) -> (operation: String, nanoseconds: UInt64) {
        guard let operation = arguments["operation"]?.string, !operation.isEmpty else {
            throw Invalid(description: "\"threshold\" needs an \"operation\" string")
        }
        guard let ns = arguments["threshold_ns"]?.nonNegativeInteger else {
            throw Invalid(description: "\"threshold\" needs \"threshold_ns\": a whole number of nanoseconds, 0 to remove it")
        }
        return (operation, ns)
    }

    /// `slow` and `errors` with `"follow": true` stream new entries instead of answering once.
    var follows: Bool {
        arguments["follow"]?.bool == true && (command == "slow" || command == "errors")
    }
}
