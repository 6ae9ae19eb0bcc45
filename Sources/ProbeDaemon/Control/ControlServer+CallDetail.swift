#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbeControl
import ProbePosix
import ProbeWire

extension ControlServer {
    /// Answers `slow`, `errors`, `threshold` and `thresholds`; nil for any other command.
    func answerCallDetail(_ request: ControlRequest) -> String? {
        switch request.command {
        case "slow", "errors":
            let operation: String?
            do { operation = try request.operationFilter() } catch { return ControlServer.errorJSON(error.description) }
            ingest?.barrier()
            if request.command == "slow" {
                return CallsJSON.slow(store.blocking { await $0.slowCallsSnapshot(operation: operation) })
            }
            return CallsJSON.errors(store.blocking { await $0.errorsSnapshot(operation: operation) })
        case "threshold":
            let arguments: (operation: String, nanoseconds: UInt64)
            do { arguments = try request.thresholdArguments() } catch { return ControlServer.errorJSON(error.description) }
            ingest?.setThreshold(arguments.operation, nanoseconds: arguments.nanoseconds)
            return thresholdsJSON()
        case "thresholds":
            return thresholdsJSON()
        default:
            return nil
        }
    }

    func thresholdsJSON() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.beginArray("thresholds")
        for (operation, ns) in (ingest?.thresholds.all ?? [:]).sorted(by: { $0.key < $1.key }) {
            w.beginObject()
            w.field("operation", operation)
            w.field("threshold_ns", ns)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// Serves a `"follow": true` request of `slow` or `errors` until the peer closes: one
    /// non-final chunk saying what is followed, then one chunk per new entry (a JSON line).
    /// Returns false when `text` is not such a request (the session goes on as usual).
    func followIfAsked(_ text: String, fd: Int32) -> Bool {
        guard let request = try? ControlRequest.parse(text), request.follows else { return false }
        let operation = request.arguments["operation"]?.string
        let kind: CallFeed.Kind = request.command == "slow" ? .slow : .errors
        let subscription = store.callFeed.subscribe(kind, operation: operation)
        defer { store.callFeed.unsubscribe(subscription) }
        var header = JSONWriter()
        header.beginObject()
        header.field("schema_version", Schema.version)
        header.field("following", kind == .slow ? "slow_calls" : "errors")
        header.field("operation", operation)
        header.endObject()
        guard chunk(header.text + "\n", on: fd) else { return true }
        while true {
            if subscription.signal.wait(timeout: .now() + .seconds(1)) == .timedOut {
                if peerClosed(fd) { return true }
                continue
            }
            let (entries, missed) = subscription.take()
            for e in entries {
                guard chunk(e.json + "\n", on: fd) else { return true }
            }
            if missed > 0 {
                guard chunk("{\"schema_version\":\(Schema.version),\"missed\":\(missed)}\n", on: fd) else { return true }
            }
        }
    }

    /// One non-final CONTROL_RESPONSE chunk; false when the peer is gone.
    func chunk(_ text: String, on fd: Int32) -> Bool {
        UnixSocket.send(fd, WireEncoder.controlResponse(final: false, chunk: Array(text.utf8)))
    }

    /// True when the peer closed its end (or sent anything, which a follower must not).
    func peerClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
        return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
    }
}
