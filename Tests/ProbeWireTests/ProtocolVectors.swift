import Foundation
import Testing

@testable import ProbeWire

/// One example message from `Protocol/vectors/`: its bytes and the JSON that says what they mean
/// (a decoded message, or the error code a decoder must report). See that folder's README.md.
struct ProtocolVector: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// The `.json` file's text; parsed where it is checked (`[String: Any]` is not Sendable).
    let json: String

    var testDescription: String { name }

    /// The decoded JSON object.
    var meaning: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    /// The error code name an invalid vector expects (`"malformed"`…); nil for a valid vector,
    /// which has a `type` (a valid `call_detail` has an `error` key too: its error text).
    var expectedError: String? {
        let meaning = meaning
        return meaning["type"] == nil ? meaning["error"] as? String : nil
    }
}

enum ProtocolVectors {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// `Protocol/vectors`, found by walking up from this file to the package root.
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            let candidate = url.appendingPathComponent("Protocol/vectors")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).appendingPathComponent("../../../Protocol/vectors").standardized
    }()

    /// A vector's number: the digits before the first `-` (`NN-name` or, from 100 on, `NNN-name`);
    /// nil for a name that has none.
    static func number(_ name: String) -> Int? {
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let digits = name[..<dash]
        guard (2...3).contains(digits.count), digits.allSatisfy(\.isASCII), let n = Int(digits) else { return nil }
        return n
    }

    /// Every vector, sorted by number (so `100-…` comes after `99-…`); throws on a missing pair,
    /// a name without a number, bad hex or bad JSON.
    static func load() throws -> [ProtocolVector] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let hexNames = Set(files.filter { $0.hasSuffix(".hex") }.map { String($0.dropLast(4)) })
        let jsonNames = Set(files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) })
        guard hexNames == jsonNames else {
            throw LoadError(description: "unpaired vector files: \(hexNames.symmetricDifference(jsonNames).sorted())")
        }
        if let unnumbered = hexNames.sorted().first(where: { number($0) == nil }) {
            throw LoadError(description: "\(unnumbered): a vector's name starts with its number (NN- or NNN-)")
        }
        let ordered = hexNames.sorted { (number($0)!, $0) < (number($1)!, $1) }
        return try ordered.map { name in
            let hex = try String(contentsOf: directory.appendingPathComponent(name + ".hex"), encoding: .utf8)
            let json = try String(contentsOf: directory.appendingPathComponent(name + ".json"), encoding: .utf8)
            guard (try? JSONSerialization.jsonObject(with: Data(json.utf8))) is [String: Any] else {
                throw LoadError(description: "\(name).json is not a JSON object")
            }
            return ProtocolVector(name: name, bytes: try parseHex(hex, file: name + ".hex"), json: json)
        }
    }

    /// Hex digits in pairs; whitespace anywhere; `#` starts a comment that runs to the end of the line.
    static func parseHex(_ text: String, file: String) throws -> [UInt8] {
        var digits: [UInt8] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            for c in line.prefix(while: { $0 != "#" }) where !c.isWhitespace {
                guard let d = c.hexDigitValue else {
                    throw LoadError(description: "\(file): '\(c)' is not a hex digit")
                }
                digits.append(UInt8(d))
            }
        }
        guard digits.count % 2 == 0 else { throw LoadError(description: "\(file): odd number of hex digits") }
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    static let all: [ProtocolVector] = (try? load()) ?? []
    static let valid: [ProtocolVector] = all.filter { $0.expectedError == nil }
    static let invalid: [ProtocolVector] = all.filter { $0.expectedError != nil }
}

// MARK: - Meaning

/// The vector JSON's name for each message type.
func vectorTypeName(_ message: Message) -> String {
    switch message {
    case .hello: "hello"
    case .define: "define"
    case .events: "events"
    case .memoryDeltas: "memory_deltas"
    case .callDetail: "call_detail"
    case .threshold: "threshold"
    case .controlRequest: "control_request"
    case .welcome: "welcome"
    case .error: "error"
    case .ack: "ack"
    case .controlResponse: "control_response"
    }
}

/// Checks `message` against a vector's JSON field by field, and that the JSON has no field the
/// check does not know (so a misspelt key cannot pass unnoticed).
func expectMessage(_ message: Message, matches json: [String: Any]) {
    func number(_ key: String) -> UInt64? { (json[key] as? NSNumber)?.uint64Value }
    /// Text compared as UTF-8 bytes: String equality is canonical equivalence, which is too lenient.
    func utf8(_ key: String) -> [UInt8]? { (json[key] as? String).map { Array($0.utf8) } }
    func expectKeys(_ keys: Set<String>) {
        #expect(Set(json.keys).subtracting(["note"]) == keys.union(["type"]))
    }
    #expect(json["type"] as? String == vectorTypeName(message))
    switch message {
    case .hello(let h):
        expectKeys(["min_version", "max_version", "pid", "service"])
        #expect(number("min_version") == UInt64(h.minVersion))
        #expect(number("max_version") == UInt64(h.maxVersion))
        #expect(number("pid") == UInt64(h.pid))
        #expect(utf8("service") == Array(h.service.utf8))
    case .define(let d):
        expectKeys(["id", "kind", "flags", "name"])
        #expect(number("id") == UInt64(d.id))
        #expect(number("flags") == UInt64(d.flags.rawValue))
        #expect(json["kind"] as? String == (d.kind == .operation ? "operation" : "error_type"))
        #expect(utf8("name") == Array(d.name.utf8))
    case .events(let dropped, let records):
        expectKeys(["dropped_total", "records"])
        #expect(number("dropped_total") == dropped)
        let expected = json["records"] as? [[String: Any]] ?? []
        #expect(expected.count == records.count)
        for (r, e) in zip(records, expected) {
            func field(_ key: String) -> UInt64? { (e[key] as? NSNumber)?.uint64Value }
            #expect(Set(e.keys) == ["operation_id", "flags", "start_ns", "duration_ns", "items", "error_type_id"])
            #expect(field("operation_id") == UInt64(r.operationID))
            #expect(field("flags") == UInt64(r.flags))
            #expect(field("start_ns") == r.startNanoseconds)
            #expect(field("duration_ns") == r.durationNanoseconds)
            #expect(field("items") == UInt64(r.items))
            #expect(field("error_type_id") == UInt64(r.errorTypeID))
        }
    case .memoryDeltas(let dropped, let records):
        expectKeys(["dropped_total", "records"])
        #expect(number("dropped_total") == dropped)
        let expected = json["records"] as? [[String: Any]] ?? []
        #expect(expected.count == records.count)
        for (r, e) in zip(records, expected) {
            #expect(Set(e.keys) == ["operation_id", "flags", "rss_delta_bytes"])
            #expect((e["operation_id"] as? NSNumber)?.uint64Value == UInt64(r.operationID))
            #expect((e["flags"] as? NSNumber)?.uint64Value == UInt64(r.flags))
            #expect((e["rss_delta_bytes"] as? NSNumber)?.int64Value == r.deltaBytes)
        }
    case .callDetail(let d):
        expectKeys(["operation_id", "flags", "start_ns", "start_wall_ns", "duration_ns", "items", "error_type_id", "error", "attributes"])
        #expect(number("operation_id") == UInt64(d.operationID))
        #expect(number("flags") == UInt64(d.flags.rawValue))
        #expect(number("start_ns") == d.startNanoseconds)
        #expect(number("start_wall_ns") == d.startWallNanoseconds)
        #expect(number("duration_ns") == d.durationNanoseconds)
        #expect(number("items") == UInt64(d.items))
        #expect(number("error_type_id") == UInt64(d.errorTypeID))
        #expect(utf8("error") == Array(d.errorDescription.utf8))
        let pairs = (json["attributes"] as? [[String]]) ?? []
        #expect(pairs.map { $0.map { Array($0.utf8) } } == d.attributes.map { [Array($0.key.utf8), Array($0.value.utf8)] })
    case .threshold(let operation, let ns):
        expectKeys(["operation_id", "threshold_ns"])
        #expect(number("operation_id") == UInt64(operation))
        #expect(number("threshold_ns") == ns)
    case .controlRequest(let text):
        expectKeys(["text"])
        #expect(utf8("text") == Array(text.utf8))
    case .welcome(let w):
        expectKeys(["version", "max_message_bytes", "max_operations", "max_name_bytes", "features"])
        #expect(number("features") == UInt64(w.features.rawValue))
        #expect(number("version") == UInt64(w.version))
        #expect(number("max_message_bytes") == UInt64(w.maxMessageBytes))
        #expect(number("max_operations") == UInt64(w.maxOperations))
        #expect(number("max_name_bytes") == UInt64(w.maxNameBytes))
    case .error(let e):
        expectKeys(["code", "code_name", "message"])
        #expect(number("code") == UInt64(e.code.rawValue))
        #expect(json["code_name"] as? String == e.code.description)
        #expect(utf8("message") == Array(e.message.utf8))
    case .ack(let accepted):
        expectKeys(["events_accepted"])
        #expect(number("events_accepted") == accepted)
    case .controlResponse(let final, let chunk):
        expectKeys(["final", "chunk"])
        #expect(json["final"] as? Bool == final)
        #expect(utf8("chunk") == chunk)
    }
}

/// Encodes any message with the matching `WireEncoder` function.
func encode(_ message: Message) -> [UInt8] {
    switch message {
    case .hello(let h): WireEncoder.hello(h)
    case .define(let d): WireEncoder.define(d)
    case .events(let dropped, let records): WireEncoder.events(droppedTotal: dropped, records: records)
    case .memoryDeltas(let dropped, let records): WireEncoder.memoryDeltas(droppedTotal: dropped, records: records)
    case .callDetail(let d): WireEncoder.callDetail(d)
    case .threshold(let operation, let ns): WireEncoder.threshold(operationID: operation, nanoseconds: ns)
    case .controlRequest(let text): WireEncoder.controlRequest(text)
    case .welcome(let w): WireEncoder.welcome(w)
    case .error(let e): WireEncoder.error(e)
    case .ack(let accepted): WireEncoder.ack(eventsAccepted: accepted)
    case .controlResponse(let final, let chunk): WireEncoder.controlResponse(final: final, chunk: chunk)
    }
}

/// The decoder's verdict as a value, so tests can compare it.
func decodeResult(_ bytes: [UInt8]) -> Result<Message, WireError> {
    do throws(WireError) { return .success(try WireDecoder.decode(bytes)) } catch { return .failure(error) }
}
