// Metrics: `--metrics-listen`, the Prometheus endpoint. A small HTTP/1.x server (request parsing
// in HTTPRequestHead.swift, fuzzed) answers GET /metrics with the text exposition rendered from a
// snapshot of the store.
// Owns: HTTP connections and their limits, the Prometheus text format.
// May call: Store/ (metricsSnapshot), ProbePosix (TCP), Service/ (Log).

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbePosix
import Synchronization

/// `--metrics-listen`: serves `GET /metrics` (Prometheus text format 0.0.4) over HTTP/1.x.
///
/// One thread accepts; each connection is served on a thread of its own, never on the ingest
/// thread, so a slow scraper cannot stall clients. A scrape copies a snapshot out of the store
/// in one short actor turn and formats it on its own thread. Sturdiness, all visible to the peer:
/// - the request head is bounded (`Limits.requestBytes`; over it: 431), a request body is refused (413);
/// - the whole head must arrive within `Limits.readTimeout` (a silent or trickling client gets 408 and is closed);
/// - at most `Limits.connections` connections are served at once (more get 503 and are closed);
/// - one request per connection (`Connection: close`), written within `Limits.writeTimeout`.
final class MetricsServer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: every stored property is immutable or atomic.
    struct Limits: Sendable {
        var requestBytes = 8192
        var readTimeout: Duration = .seconds(5)
        var writeTimeout: Duration = .seconds(10)
        var connections = 16
    }

    let listenFD: Int32
    let port: UInt16
    let store: Store
    let log: Log
    let limits: Limits
    let active = Atomic<Int>(0)
    /// Scrapes refused (503) or not accepted (out of descriptors): logged once, then counted.
    let busyWarning: CountedWarning
    let descriptorWarning: CountedWarning

    init(address: TCPAddress, store: Store, log: Log, limits: Limits = Limits()) throws(TCPSocket.ListenError) {
        (listenFD, port) = try TCPSocket.listen(address)
        self.store = store
        self.log = log
        self.limits = limits
        busyWarning = CountedWarning(summary: { [limits] n, s in
            "metrics endpoint: refused \(n) more connections with 503 in the last \(s) s (\(limits.connections) served at once)"
        }, sink: { [log] in log.warning($0) })
        descriptorWarning = CountedWarning(summary: { n, s in
            "metrics endpoint: \(n) more accepts failed for want of descriptors in the last \(s) s"
        }, sink: { [log] in log.warning($0) })
    }

    /// The accept loop (runs forever on its own thread).
    func run() {
        while true {
            let fd = TCPSocket.accept(listenFD)
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EAGAIN: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Retried every 100 ms (the scraper waits in the backlog); logged once, then counted.
                    descriptorWarning.note("metrics endpoint cannot accept a connection: \(SystemError("accept4")); retrying every 100 ms (raise LimitNOFILE). Further failures are counted and logged once a minute")
                    sleepNanoseconds(100_000_000)
                    continue
                default:
                    log.error("metrics endpoint stopped accepting: \(SystemError("accept4"))")
                    return
                }
            }
            descriptorWarning.flush(now: true)
            busyWarning.flush()
            guard active.add(1, ordering: .relaxed).newValue <= limits.connections else {
                active.subtract(1, ordering: .relaxed)
                busyWarning.note("metrics endpoint: refused a connection with 503, \(limits.connections) already being served. Further refusals are counted and logged once a minute")
                let response = MetricsServer.response(HTTPError(status: 503, message: "too many concurrent requests; retry shortly"), headOnly: false)
                _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                close(fd)
                continue
            }
            do {
                try DetachedThread.start(name: "metrics-request") { [self] in
                    serve(fd)
                    close(fd)
                    active.subtract(1, ordering: .relaxed)
                }
            } catch {
                log.warning("metrics endpoint: refused a connection with 503: \(error)")
                let response = MetricsServer.response(HTTPError(status: 503, message: "cannot serve now; retry shortly"), headOnly: false)
                _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                close(fd)
                active.subtract(1, ordering: .relaxed)
            }
        }
    }

    // MARK: One connection

    func serve(_ fd: Int32) {
        let response: [UInt8]
        switch readHead(fd) {
        case .failure(let error):
            log.debug("metrics endpoint: answered \(error.status): \(error.message)")
            response = MetricsServer.response(error, headOnly: false)
        case .success(let head):
            switch MetricsServer.route(head) {
            case .failure(let error):
                log.debug("metrics endpoint: answered \(error.status): \(error.message)")
                response = MetricsServer.response(error, headOnly: false)
            case .success(let headOnly):
                let snapshot = store.blocking { await $0.metricsSnapshot() }
                let body = PrometheusExposition.render(snapshot)
                response = MetricsServer.response(status: 200, contentType: PrometheusExposition.contentType, body: body, headOnly: headOnly)
            }
        }
        guard write(response, to: fd) else { return }
        // Half-close, then read what the peer still sends until it closes (bounded), so the
        // kernel does not answer unread bytes with a reset that would destroy our response.
        shutdown(fd, Int32(SHUT_WR))
        let deadline = ContinuousClock.now + .seconds(2)
        var sink = [UInt8](repeating: 0, count: 4096)
        var drained = 0
        while drained < 1 << 20, let ms = MetricsServer.milliseconds(until: deadline),
              TCPSocket.wait(fd, for: Int16(POLLIN), milliseconds: ms) {
            let n = recv(fd, &sink, sink.count, 0)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { break }
            drained += n
        }
    }

    /// Reads up to the blank line ending the request head, within the size and time limits.
    func readHead(_ fd: Int32) -> Result<[UInt8], HTTPError> {
        let deadline = ContinuousClock.now + limits.readTimeout
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let ms = MetricsServer.milliseconds(until: deadline),
                  TCPSocket.wait(fd, for: Int16(POLLIN), milliseconds: ms)
            else {
                return .failure(HTTPError(status: 408, message: "no complete request within \(limits.readTimeout)"))
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failure(HTTPError(status: 400, message: "the connection failed: \(SystemError("recv"))"))
            }
            if n == 0 { return .failure(HTTPError(status: 400, message: "the connection closed before a complete request")) }
            let searchFrom = max(0, head.count - 3)
            head.append(contentsOf: chunk[0..<n])
            if let end = MetricsServer.endOfHead(head, from: searchFrom) {
                return .success(Array(head[0..<end]))
            }
            if head.count > limits.requestBytes {
                return .failure(HTTPError(status: 431, message: "the request head exceeds \(limits.requestBytes) bytes"))
            }
        }
    }

    /// Writes `bytes` within the write timeout; false when the peer went away or stalled.
    func write(_ bytes: [UInt8], to fd: Int32) -> Bool {
        let deadline = ContinuousClock.now + limits.writeTimeout
        var offset = 0
        return bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n > 0 { offset += n; continue }
                guard n < 0, errno == EINTR || errno == EAGAIN else { return false }
                guard let ms = MetricsServer.milliseconds(until: deadline),
                      TCPSocket.wait(fd, for: Int16(POLLOUT), milliseconds: ms)
                else {
                    log.debug("metrics endpoint: gave up writing a response after \(limits.writeTimeout)")
                    return false
                }
            }
            return true
        }
    }

    static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32? {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(1, ms))
    }

    // MARK: HTTP (the request parsing is pure, in HTTPRequestHead.swift, fuzzed by Tools/fuzz)

    typealias HTTPError = HTTPRequestHead.HTTPError

    static func endOfHead(_ bytes: [UInt8], from start: Int) -> Int? { HTTPRequestHead.endOfHead(bytes, from: start) }

    static func route(_ head: [UInt8]) -> Result<Bool, HTTPError> { HTTPRequestHead.route(head) }

    static let reasons: [Int: String] = [
        200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
        413: "Content Too Large", 431: "Request Header Fields Too Large", 503: "Service Unavailable",
        505: "HTTP Version Not Supported",
    ]

    static func response(_ error: HTTPError, headOnly: Bool) -> [UInt8] {
        response(status: error.status, contentType: "text/plain; charset=utf-8", body: "\(error.status) \(reasons[error.status] ?? ""): \(error.message)\n",
                 headOnly: headOnly, extraHeaders: error.status == 405 ? "Allow: GET, HEAD\r\n" : "")
    }

    static func response(status: Int, contentType: String, body: String, headOnly: Bool, extraHeaders: String = "") -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.utf8.count)\r\n"
        head += extraHeaders
        head += "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes.append(contentsOf: body.utf8) }
        return bytes
    }
}
