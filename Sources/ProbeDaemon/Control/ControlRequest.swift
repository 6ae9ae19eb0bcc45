import Foundation

/// A control request: a JSON object with a `command` string and optional arguments.
struct ControlRequest {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }
    var command: String
    var arguments: [String: Any]

    static func parse(_ text: String) throws(Invalid) -> ControlRequest {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Invalid(description: "the request is not a JSON object; send e.g. {\"command\":\"stats\"}")
        }
        guard let command = object["command"] as? String else {
            throw Invalid(description: "the request has no \"command\" string")
        }
        return ControlRequest(command: command, arguments: object)
    }
}

/// JSON numbers as `JSONSerialization` gives them.
protocol NSNumberLike {
    var nonNegativeInteger: UInt64? { get }
}

extension NSNumber: NSNumberLike {
    var nonNegativeInteger: UInt64? {
        let d = doubleValue
        guard d.isFinite, d >= 0, d < 1.8e19, d == d.rounded() else { return nil }
        return uint64Value
    }
}

extension ControlRequest {
    /// `stats`, `slow` and `errors`: the optional `operation` filter (absent, or a string).
    func operationFilter() throws(Invalid) -> String? {
        switch arguments["operation"] {
        case nil: return nil
        case let name as String: return name
        default: throw Invalid(description: "\"operation\" must be a string")
        }
    }

    /// `threshold`: the operation and its threshold in nanoseconds (0 removes it).
    func thresholdArguments() throws(Invalid) -> (operation: String, nanoseconds: UInt64) {
        guard let operation = arguments["operation"] as? String, !operation.isEmpty else {
            throw Invalid(description: "\"threshold\" needs an \"operation\" string")
        }
        guard let value = arguments["threshold_ns"] as? NSNumberLike, let ns = value.nonNegativeInteger else {
            throw Invalid(description: "\"threshold\" needs \"threshold_ns\": a whole number of nanoseconds, 0 to remove it")
        }
        return (operation, ns)
    }

    /// `slow` and `errors` with `"follow": true` stream new entries instead of answering once.
    var follows: Bool {
        arguments["follow"] as? Bool == true && (command == "slow" || command == "errors")
    }
}
