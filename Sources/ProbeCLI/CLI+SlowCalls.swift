#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix

extension CLI {
    static let callDetailCommands: Set<String> = ["slow", "errors", "threshold"]

    /// Whether the first non-option argument is `slow`, `errors` or `threshold`.
    static func isCallDetailCommand(_ arguments: [String]) -> Bool {
        var i = 0
        while i < arguments.count {
            if arguments[i] == "--socket" { i += 2; continue }
            if arguments[i].hasPrefix("-") { i += 1; continue }
            return callDetailCommands.contains(arguments[i])
        }
        return false
    }

    /// `probectl slow|errors [OPERATION] [--json] [--follow]`, `probectl threshold [OPERATION DURATION|off]`.
    static func runCallDetail(_ arguments: [String]) -> Never {
        var socket: String?
        var json = false, follow = false
        var positional: [String] = []
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--json": json = true
            case "--follow", "-f": follow = true
            case "--socket":
                i += 1
                guard i < arguments.count else { usageError("--socket needs a path") }
                socket = arguments[i]
            case _ where arg.hasPrefix("--socket="): socket = String(arg.dropFirst("--socket=".count))
            case _ where arg.hasPrefix("-"): usageError("unknown option \"\(arg)\"")
            default: positional.append(arg)
            }
            i += 1
        }
        let command = positional.removeFirst()
        var request = JSONWriterRequest(command)
        switch command {
        case "threshold":
            if follow { usageError("--follow applies only to slow and errors") }
            switch positional.count {
            case 0:
                request = JSONWriterRequest("thresholds")
            case 2:
                let ns: UInt64
                if positional[1] == "off" || positional[1] == "0" {
                    ns = 0
                } else {
                    guard let parsed = DurationText.parse(positional[1]) else {
                        usageError("\"\(positional[1])\" is not a duration; write e.g. 50ms, 1.5s, 250us, or off to remove the threshold")
                    }
                    ns = parsed
                }
                request.add("operation", positional[0])
                request.add("threshold_ns", ns)
            default:
                usageError("threshold takes an operation and a duration (e.g. probectl threshold predict 50ms), or nothing to list them")
            }
        default:
            guard positional.count <= 1 else { usageError("\(command) takes at most one operation, got \(positional.joined(separator: " "))") }
            if let operation = positional.first { request.add("operation", operation) }
            if follow { request.add("follow", true) }
        }

        let path = SocketPath.forClient(explicit: socket)
        let client: ControlClient
        do {
            // A follower waits as long as it takes for the next entry.
            client = try ControlClient(path: path, timeout: follow ? .seconds(365 * 86_400) : .seconds(10))
        } catch {
            fail("\(error)")
        }
        defer { client.close() }
        if follow { followEntries(client, request: request.text, json: json, command: command) }
        let text: String
        do {
            text = try client.request(request.text)
        } catch {
            fail("\(error)")
        }
        if let refusal = ErrorReport.detect(in: text) {
            fail("probed refused the request: \(refusal.error)")
        }
        if json {
            print(text)
            exit(0)
        }
        do {
            switch command {
            case "slow": print(render(slow: try JSONDecoder.snakeCase.decode(SlowCallsReport.self, from: Data(text.utf8))))
            case "errors": print(render(errors: try JSONDecoder.snakeCase.decode(ErrorsReport.self, from: Data(text.utf8))))
            default: print(render(thresholds: try JSONDecoder.snakeCase.decode(ThresholdsReport.self, from: Data(text.utf8))))
            }
        } catch {
            fail("could not read probed's answer (\(error)); is probectl older than probed? Try --json")
        }
        exit(0)
    }

    /// Prints each entry as it arrives (a JSON line with --json, else a text line) until probed
    /// closes the session or probectl is interrupted.
    static func followEntries(_ client: ControlClient, request: String, json: Bool, command: String) -> Never {
        do {
            guard let first = try client.send(request), !first.final else {
                fail("probed closed the connection before answering")
            }
            let header = String(decoding: first.chunk, as: UTF8.self)
            if let refusal = ErrorReport.detect(in: header) {
                fail("probed refused the request: \(refusal.error)")
            }
            writeStandardError("probectl: following \(command == "slow" ? "slow calls" : "failures") (Ctrl-C to stop)\n")
            while let (final, chunk) = try client.next() {
                let line = String(decoding: chunk, as: UTF8.self).trimmingCharacters(in: .newlines)
                if !line.isEmpty {
                    if json {
                        print(line)
                    } else if let row = try? JSONDecoder.snakeCase.decode(CallEntryRow.self, from: Data(line.utf8)) {
                        print(renderLine(row))
                    } else {
                        print(line)
                    }
                    fflush(nil)  // every stream: stdout is often a pipe
                }
                if final { exit(0) }
            }
            fail("probed closed the connection")
        } catch {
            fail("\(error)")
        }
    }

    public static func render(slow r: SlowCallsReport) -> String {
        guard !r.slowCalls.isEmpty else {
            return "no slow calls\(r.operation.map { " of \($0)" } ?? "") (set a threshold: probectl threshold OPERATION 50ms, or probe.operation(_:slowThreshold:))"
        }
        return table(r.slowCalls) + "\n(\(r.slowCount) slow calls reported; newest first; the slowest ever: --json, \"slowest\")"
    }

    public static func render(errors r: ErrorsReport) -> String {
        var out = ""
        if !r.operations.isEmpty {
            var t = TextTable(["SERVICE", "OPERATION", "CALLS", "ERRORS", "RATE 1M", "ERROR TYPES"], rightAligned: [2, 3, 4])
            for o in r.operations {
                let types = o.errorTypes.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                t.add([o.service, o.operation, String(o.calls), String(o.errors),
                       o.errorRate1M.map { Format.decimal($0 * 100, 2) + "%" } ?? "-", types.isEmpty ? "-" : types])
            }
            out = t.render() + "\n\n"
        }
        guard !r.errors.isEmpty else { return out + "no failures recorded" }
        return out + table(r.errors) + "\n(newest first)"
    }

    public static func render(thresholds r: ThresholdsReport) -> String {
        guard !r.thresholds.isEmpty else { return "no thresholds set in probed (set one: probectl threshold OPERATION 50ms)" }
        var t = TextTable(["OPERATION", "THRESHOLD"], rightAligned: [1])
        for row in r.thresholds { t.add([row.operation, Format.duration(row.thresholdNs)]) }
        return t.render()
    }

    static func table(_ rows: [CallEntryRow]) -> String {
        var t = TextTable(["TIME (UTC)", "SERVICE", "PID", "OPERATION", "DURATION", "ITEMS", "ERROR", "ATTRIBUTES"], rightAligned: [2, 4, 5])
        for r in rows {
            t.add([r.startTime, r.service, String(r.pid), r.operation, Format.duration(r.durationNs), String(r.items),
                   r.failed ? "\(r.errorType ?? "unknown"): \(r.message ?? "")" : "-", attributesText(r)])
        }
        return t.render()
    }

    static func attributesText(_ r: CallEntryRow) -> String {
        let text = r.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return (text.isEmpty ? "-" : text) + (r.truncated ? " (truncated)" : "")
    }

    static func renderLine(_ r: CallEntryRow) -> String {
        var line = "\(r.startTime) \(r.service) pid \(r.pid) \(r.operation) \(Format.duration(r.durationNs))"
        if r.items > 1 { line += " items \(r.items)" }
        if r.failed { line += " \(r.errorType ?? "unknown"): \(r.message ?? "")" }
        return (line + " " + attributesText(r)).escapingControlCharacters()
    }
}

/// A control request's JSON object, built up field by field.
struct JSONWriterRequest {
    var fields: [(String, String)] = []
    init(_ command: String) { add("command", command) }
    mutating func add(_ key: String, _ value: String) { fields.append((key, Self.quote(value))) }
    mutating func add(_ key: String, _ value: UInt64) { fields.append((key, String(value))) }
    mutating func add(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }
    var text: String { "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }
    static func quote(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
