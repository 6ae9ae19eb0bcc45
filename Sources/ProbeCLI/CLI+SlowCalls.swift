#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix

extension CLI {
    static let callDetailCommands: Set<String> = ["slow", "errors", "threshold"]

    /// `probectl slow|errors [OPERATION] [--json] [--follow]`, `probectl threshold [OPERATION DURATION|off]`.
    static func runCallDetail(_ command: String, _ inv: Invocation) -> Never {
        let positional = inv.positional
        var request = JSONWriterRequest(command)
        var change: (operation: String, nanoseconds: UInt64)? = nil
        switch command {
        case "threshold":
            switch positional.count {
            case 0:
                request = JSONWriterRequest("thresholds")
            case 2:
                let ns: UInt64
                if positional[1] == "off" || positional[1] == "0" {
                    ns = 0
                } else {
                    guard let parsed = DurationText.parse(positional[1]) else {
                        usageError("\"\(positional[1])\" is not a duration; write e.g. 50ms, 1.5s, 250us, or off to remove the threshold", command: command)
                    }
                    ns = parsed
                }
                request.add("operation", positional[0])
                request.add("threshold_ns", ns)
                change = (positional[0], ns)
            default:
                usageError("threshold takes an operation and a duration (e.g. probectl threshold predict 50ms), or nothing to list them", command: command)
            }
        default:
            guard positional.count <= 1 else { usageError("\(command) takes at most one operation, got \(positional.joined(separator: " "))", command: command) }
            if let operation = positional.first { request.add("operation", operation) }
            if inv.follow { request.add("follow", true) }
        }

        let path = SocketPath.forClient(explicit: inv.socket)
        let client: ControlClient
        do {
            // A follower waits as long as it takes for the next entry.
            client = try ControlClient(path: path, timeout: inv.follow ? .seconds(365 * 86_400) : .seconds(10))
        } catch {
            fail("\(error)")
        }
        defer { client.close() }
        if inv.follow { followEntries(client, request: request.text, json: inv.json, command: command) }
        // Before a change, what was set: the answer says what the change did.
        let before = change == nil || inv.json ? nil : thresholds(client)
        let text: String
        do {
            text = try client.request(request.text)
        } catch {
            fail("\(error)")
        }
        if let refusal = ErrorReport.detect(in: text) {
            fail("probed refused the request: \(refusal.error)")
        }
        if inv.json {
            print(text)
            exit(0)
        }
        let width = outputWidth
        do {
            switch command {
            case "slow": print(render(slow: try JSONDecoder.snakeCase.decode(SlowCallsReport.self, from: Data(text.utf8)), width: width))
            case "errors": print(render(errors: try JSONDecoder.snakeCase.decode(ErrorsReport.self, from: Data(text.utf8)), width: width))
            default:
                let after = try JSONDecoder.snakeCase.decode(ThresholdsReport.self, from: Data(text.utf8))
                if let change {
                    print(Format.wrap(describe(change, before: before), width: width))
                    if !after.thresholds.isEmpty { print("\n" + render(thresholds: after, width: width)) }
                } else {
                    print(render(thresholds: after, width: width))
                }
            }
        } catch {
            fail("could not read probed's answer (\(error)); is probectl older than probed? Try --json")
        }
        exit(0)
    }

    /// probed's thresholds by operation, nil when it does not answer.
    static func thresholds(_ client: ControlClient) -> [String: UInt64]? {
        guard let text = try? client.request(JSONWriterRequest("thresholds").text),
              let report = try? JSONDecoder.snakeCase.decode(ThresholdsReport.self, from: Data(text.utf8))
        else { return nil }
        return Dictionary(report.thresholds.map { ($0.operation, $0.thresholdNs) }, uniquingKeysWith: { a, _ in a })
    }

    /// What `probectl threshold OPERATION DURATION|off` did, in a sentence.
    static func describe(_ change: (operation: String, nanoseconds: UInt64), before: [String: UInt64]?) -> String {
        let previous = before?[change.operation]
        if change.nanoseconds == 0 {
            if before != nil && previous == nil {
                return "\(change.operation) had no threshold in probed: nothing to remove (a client's own threshold, if any, still applies)"
            }
            let was = previous.map { " (was \(Format.duration($0)))" } ?? ""
            return "removed probed's slow-call threshold for \(change.operation)\(was); a client's own threshold, if any, still applies"
        }
        let was = previous.map { $0 == change.nanoseconds ? " (unchanged)" : " (was \(Format.duration($0)))" } ?? ""
        return "slow-call threshold for \(change.operation) set to \(Format.duration(change.nanoseconds))\(was), sent to every connected client that has it"
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

    public static func render(slow r: SlowCallsReport, width: Int? = nil) -> String {
        guard !r.slowCalls.isEmpty else {
            return Format.wrap("no slow calls\(r.operation.map { " of \($0)" } ?? "") (a call is slow past its operation's threshold: probectl thresholds lists them; set one with probectl threshold OPERATION 50ms, or in the service with probe.operation(_:slowThreshold:))", width: width)
        }
        let reported = r.slowCount == 1 ? "1 slow call reported" : "\(r.slowCount) slow calls reported"
        return table(r.slowCalls, width: width) + "\n" + Format.wrap("(\(reported); newest first; the slowest ever: --json, \"slowest\")", width: width)
    }

    public static func render(errors r: ErrorsReport, width: Int? = nil) -> String {
        var out = ""
        if !r.operations.isEmpty {
            var t = TextTable(["SERVICE", "OPERATION", "CALLS", "ERRORS", "RATE 1M", "ERROR TYPES"], rightAligned: [2, 3, 4],
                              fit: [.shrink("ERROR TYPES", to: 16), .shrink("SERVICE", to: 12), .shrink("OPERATION", to: 16), .drop("CALLS"),
                                    .merge("SERVICE", into: "OPERATION"), .shrink("OPERATION", to: 12), .shrink("ERROR TYPES", to: 11),
                                    .drop("ERROR TYPES"), .shrink("OPERATION", to: 8)])
            for o in r.operations {
                let types = o.errorTypes.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                t.add([o.service, o.operation, String(o.calls), String(o.errors),
                       o.errorRate1M.map { Format.decimal($0 * 100, 2) + "%" } ?? "-", types.isEmpty ? "-" : types])
            }
            out = t.render(width: width) + "\n\n"
        }
        guard !r.errors.isEmpty else { return out + "no failures recorded" }
        return out + table(r.errors, width: width, failures: true) + "\n(newest first)"
    }

    public static func render(thresholds r: ThresholdsReport, width: Int? = nil) -> String {
        guard !r.thresholds.isEmpty else { return Format.wrap("no thresholds set in probed (set one: probectl threshold OPERATION 50ms)", width: width) }
        var t = TextTable(["OPERATION", "THRESHOLD"], rightAligned: [1], fit: [.shrink("OPERATION", to: 8)])
        for row in r.thresholds { t.add([row.operation, Format.duration(row.thresholdNs)]) }
        return t.render(width: width)
    }

    /// Slow or failed calls, one per line. In a narrow terminal the date goes first (the entries
    /// are recent), then the message shortens, the pid goes and the service joins the operation;
    /// then attributes, items and names shorten; last the message of a slow call goes, or the
    /// attributes of a failure, and the names shorten further.
    static func table(_ rows: [CallEntryRow], width: Int? = nil, failures: Bool = false) -> String {
        let common: [TextTable.Step] = [
            .shrink("TIME (UTC)", to: 12), .shrink("ERROR", to: 32), .drop("PID"), .merge("SERVICE", into: "OPERATION"),
            .shrink("ATTRIBUTES", to: 24), .drop("ITEMS"), .shrink("ERROR", to: 16), .shrink("OPERATION", to: 16), .shrink("ATTRIBUTES", to: 16),
        ]
        let last: [TextTable.Step] = failures
            ? [.drop("ATTRIBUTES"), .shrink("ERROR", to: 12), .shrink("OPERATION", to: 12), .drop("ERROR"), .shrink("OPERATION", to: 8)]
            : [.drop("ERROR"), .shrink("ATTRIBUTES", to: 12), .shrink("OPERATION", to: 12), .drop("ATTRIBUTES"), .shrink("OPERATION", to: 8)]
        var t = TextTable(["TIME (UTC)", "SERVICE", "PID", "OPERATION", "DURATION", "ITEMS", "ERROR", "ATTRIBUTES"], rightAligned: [2, 4, 5],
                          fit: common + last, shortening: ["TIME (UTC)": .timeOfDay])
        for r in rows {
            t.add([r.startTime, r.service, String(r.pid), r.operation, Format.duration(r.durationNs), String(r.items), errorText(r), attributesText(r)])
        }
        return t.render(width: width)
    }

    /// A failure's error type and message (`record(failed: true)` has neither); "-" for a call that succeeded.
    static func errorText(_ r: CallEntryRow) -> String {
        guard r.failed else { return "-" }
        let message = r.message ?? ""
        return (r.errorType ?? "failed") + (message.isEmpty ? "" : ": " + message)
    }

    static func attributesText(_ r: CallEntryRow) -> String {
        let text = r.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return (text.isEmpty ? "-" : text) + (r.truncated ? " (truncated)" : "")
    }

    static func renderLine(_ r: CallEntryRow) -> String {
        var line = "\(r.startTime) \(r.service) pid \(r.pid) \(r.operation) \(Format.duration(r.durationNs))"
        if r.items > 1 { line += " items \(r.items)" }
        if r.failed { line += " " + errorText(r) }
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
