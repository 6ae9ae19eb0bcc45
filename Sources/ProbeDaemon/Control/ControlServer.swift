// Control: probectl's side of the socket. Each control session (handed over by Ingest/) runs on a
// thread of its own: it parses JSON requests, checks who may change state, takes a snapshot from
// the store and renders the JSON reports (stats, status, procs, gpu, slow, errors, thresholds),
// or follows new slow calls and failures.
// Owns: control sessions and the JSON rendering of every report.
// May call: Store/ (snapshots, CallFeed, reset), Ingest/ (barrier, thresholds), ProbeControl
// (JSONWriter, schema), ProbeWire (CONTROL_RESPONSE), Service/ (Log, AccessPolicy).

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbeControl
import ProbePosix
import ProbeWire
import Synchronization

/// Serves probectl: each control connection gets a thread of its own (they are few and short),
/// reads JSON requests such as `{"command":"stats","window":"1m"}` and answers each with CONTROL_RESPONSE
/// chunks. Reads first wait for a barrier, so a report includes everything clients had
/// handed to the kernel before the request.
final class ControlServer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: `ingest` is set once before the first connection is accepted.
    let store: Store
    let log: Log
    weak var ingest: IngestServer?
    /// Who may change state (reset); everybody allowed to connect may read. Set before the first connection.
    var statePolicy = AccessPolicy()
    let active = Atomic<Int>(0)
    static let maxSessions = 64
    /// Sessions refused past `maxSessions`: logged once, then counted.
    lazy var busyWarning = CountedWarning(summary: { n, s in
        "refused \(n) more control sessions in the last \(s) s (\(ControlServer.maxSessions) open)"
    }, sink: { [log] in log.warning($0) })
    /// How long `status` waits for what clients queued before it to be applied (see answer(_:)).
    static let statusWait = Duration.milliseconds(100)

    init(store: Store, log: Log) {
        self.store = store
        self.log = log
    }

    func serve(fd: Int32, peer: PeerCredentials, firstRequest: String) {
        guard active.add(1, ordering: .relaxed).newValue <= ControlServer.maxSessions else {
            active.subtract(1, ordering: .relaxed)
            busyWarning.note("refused a control session from pid \(peer.pid): \(ControlServer.maxSessions) sessions already open. Further refusals are counted and logged once a minute")
            UnixSocket.send(fd, WireEncoder.error(WireError(.limitExceeded, "too many control sessions; try again")), flags: Int32(MSG_DONTWAIT))
            close(fd)
            return
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        UnixSocket.setTimeouts(fd, send: 5_000_000_000, receive: 60_000_000_000)
        do {
            try DetachedThread.start(name: "control") { [self] in
                session(fd: fd, peer: peer, firstRequest: firstRequest)
                close(fd)
                active.subtract(1, ordering: .relaxed)
            }
        } catch {
            log.warning("refused a control session from pid \(peer.pid): \(error)")
            UnixSocket.send(fd, WireEncoder.error(WireError(.limitExceeded, "probed cannot start a session now; try again")), flags: Int32(MSG_DONTWAIT))
            close(fd)
            active.subtract(1, ordering: .relaxed)
        }
    }

    func session(fd: Int32, peer: PeerCredentials, firstRequest: String) {
        var request = firstRequest
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes + 1)
        let mayChangeState = statePolicy.allows(peer, fd: fd)
        while true {
            if followIfAsked(request, fd: fd) { return }
            let response = answer(request, peer: peer, mayChangeState: mayChangeState)
            guard send(response, on: fd) else { return }
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
            guard n > 0 else { return }
            guard n <= WireProtocol.maxMessageBytes,
                  case .controlRequest(let next)? = try? WireDecoder.decode(Array(buffer[0..<n]))
            else {
                log.warning("closed a control session from pid \(peer.pid): expected CONTROL_REQUEST")
                UnixSocket.send(fd, WireEncoder.error(WireError(.outOfOrder, "a control session sends only CONTROL_REQUEST")))
                return
            }
            request = next
        }
    }

    func send(_ text: String, on fd: Int32) -> Bool {
        let bytes = Array(text.utf8)
        var start = 0
        repeat {
            let end = min(bytes.count, start + WireEncoder.maxControlChunk)
            let final = end == bytes.count
            guard UnixSocket.send(fd, WireEncoder.controlResponse(final: final, chunk: bytes[start..<end])) else { return false }
            start = end
        } while start < bytes.count
        return true
    }

    /// Parses one request and renders its answer (a JSON object; `{"error": …}` when refused).
    func answer(_ text: String, peer: PeerCredentials, mayChangeState: Bool = false) -> String {
        let request: ControlRequest
        do {
            request = try ControlRequest.parse(text)
        } catch {
            return ControlServer.errorJSON("\(error)")
        }
        switch request.command {
        case "status":
            // The health check answers promptly even when probed is behind its clients (their
            // queued messages take longer than this to apply): it reports what is applied by then,
            // and says whether that includes everything queued before the request.
            let upToDate = ingest?.barrier(timeout: ControlServer.statusWait) ?? true
            let pid = getpid()
            let limits = ingest.map { ($0.limits.maxClients, $0.connectionsRefused.load(ordering: .relaxed)) }
            return StatusJSON.render(store.blocking { await $0.statusSnapshot() }, pid: pid, upToDate: upToDate, limits: limits)
        case "stats":
            let window: StatsWindow
            switch request.arguments["window"] {
            case nil:
                window = .all  // protocol default: lifetime figures, as before windows existed
            case .string(let name)?:
                guard let known = StatsWindow(rawValue: name) else {
                    return ControlServer.errorJSON("unknown window \"\(name)\"; use \(StatsWindow.choices)")
                }
                window = known
            default:
                return ControlServer.errorJSON("\"window\" must be a string: \(StatsWindow.choices)")
            }
            let operation: String?
            do { operation = try request.operationFilter() } catch { return ControlServer.errorJSON(error.description) }
            ingest?.barrier()
            return StatsJSON.render(store.blocking { await $0.statsSnapshot(window: window, operation: operation) })
        case "procs":
            ingest?.barrier()
            return ProcsJSON.render(store.blocking { await $0.procsSnapshot() })
        case "gpu":
            return GPUJSON.render(store.blocking { await $0.gpuSnapshot() })
        case "threshold" where !mayChangeState:
            log.warning("refused a threshold change from pid \(peer.pid) uid \(peer.uid): changing state needs probed's user (uid \(geteuid())), root or --control-group")
            return ControlServer.errorJSON("uid \(peer.uid) may read but not change probed's state: thresholds need probed's own user, root or a member of its --control-group")
        case "slow", "errors", "threshold", "thresholds":
            return answerCallDetail(request) ?? ControlServer.errorJSON("internal error")
        case "ping":
            return "{\"schema_version\":\(Schema.version),\"ok\":true}"
        case "reset":
            return reset(peer: peer, allowed: mayChangeState)
        default:
            return ControlServer.errorJSON("unknown command \"\(request.command)\"; this probed knows status, stats, procs, gpu, slow, errors, threshold, thresholds, ping, reset")
        }
    }

    static func errorJSON(_ message: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("error", message)
        w.endObject()
        return w.text
    }
}
