import Foundation
import ProbePosix
import Testing

/// An external tool the tests need. Missing is a failure with the fix, never a silent skip.
func requireTool(_ name: String) throws -> String {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
    for d in directories where FileManager.default.isExecutableFile(atPath: d + "/" + name) {
        return d + "/" + name
    }
    throw Failure("""
        \(name) is not installed, and this test needs it: install Debian's prometheus package \
        (`apt-get update && apt-get install -y --no-install-recommends prometheus`), or run `bash Tools/test.sh`, which does
        """)
}

/// A TCP port free right now on loopback (bound to port 0, then released).
func freeLoopbackPort() throws -> UInt16 {
    let (fd, port) = try TCPSocket.listen(TCPAddress(host: "127.0.0.1", port: 0))
    close(fd)
    return port
}

extension RunningDaemon {
    /// A probed serving metrics on a port of the kernel's choice; its log says which.
    static func withMetrics(_ arguments: [String] = []) throws -> (RunningDaemon, UInt16) {
        let daemon = try RunningDaemon(["--metrics-listen", "127.0.0.1:0"] + arguments)
        return (daemon, try daemon.metricsPort())
    }

    /// The port of a probed started with `--metrics-listen 127.0.0.1:0`, from its log.
    func metricsPort() throws -> UInt16 {
        let marker = "serving Prometheus metrics at http://127.0.0.1:"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let log = logText
            if let range = log.range(of: marker) {
                let digits = log[range.upperBound...].prefix { $0.isNumber }
                if let port = UInt16(digits) { return port }
            }
            usleep(10_000)
        }
        throw Failure("probed did not log its metrics port: \(logText)")
    }
}

/// What came back on one HTTP connection.
struct HTTPExchange {
    var raw: String
    /// The server closed the connection (end of stream) rather than the read timing out.
    var closedByServer: Bool
    var seconds: Double

    var status: Int? {
        let parts = raw.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }
    var head: String { raw.components(separatedBy: "\r\n\r\n").first ?? raw }
    var body: String {
        guard let r = raw.range(of: "\r\n\r\n") else { return "" }
        return String(raw[r.upperBound...])
    }
    func header(_ name: String) -> String? {
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2 && kv[0].lowercased() == name.lowercased() { return kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}

/// Connects to 127.0.0.1:`port`, sends `request` (when given), then reads until the server
/// closes or `timeout` seconds pass without data.
func httpExchange(port: UInt16, _ request: [UInt8]?, timeout: Int = 30) throws -> HTTPExchange {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure("socket: \(SystemError("socket"))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw Failure("connect to port \(port): \(SystemError("connect"))") }
    UnixSocket.setTimeouts(fd, send: UInt64(timeout) * 1_000_000_000, receive: UInt64(timeout) * 1_000_000_000)
    let start = Date()
    if let request {
        // The server may answer and stop reading before all of an over-long request is sent.
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    var closed = false
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n > 0 { received.append(contentsOf: buffer[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        closed = n == 0 || errno == ECONNRESET
        break
    }
    return HTTPExchange(raw: String(decoding: received, as: UTF8.self), closedByServer: closed, seconds: Date().timeIntervalSince(start))
}

func httpGet(port: UInt16, _ target: String, version: String = "HTTP/1.1") throws -> HTTPExchange {
    try httpExchange(port: port, Array("GET \(target) \(version)\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
}

/// Scrapes until the body holds every one of `lines` (or 30 s pass): a client's events reach the
/// kernel when it exits, and the store a moment later; a scrape shows what the store has applied.
func scrape(port: UInt16, until lines: [String]) throws -> HTTPExchange {
    let deadline = Date().addingTimeInterval(30)
    while true {
        let r = try httpGet(port: port, "/metrics")
        if lines.allSatisfy({ r.body.contains($0) }) || Date() > deadline { return r }
        usleep(20_000)
    }
}

/// A real Prometheus server on loopback scraping `targets` every second, with its own storage;
/// stopped at deinit. Run under `timeout` so that it dies even if the test runner is killed.
final class RunningPrometheus: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let process = Process()
    let port: UInt16

    /// Rule files: paths Prometheus loads as they are.
    init(scraping targets: [String], rules: [String] = []) throws {
        let prometheus = try requireTool("prometheus")
        port = try freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files: [\(rules.map { "'\($0)'" }.joined(separator: ", "))]
            scrape_configs:
              - job_name: probed
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]
            """
        try config.write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
        let log = directory.file("prometheus.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-s", "KILL", "300", prometheus,
                             "--config.file=\(directory.file("prometheus.yml"))",
                             "--storage.tsdb.path=\(directory.file("data"))",
                             "--web.listen-address=127.0.0.1:\(port)",
                             "--log.level=warn"]
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while true {
            if let ready = try? httpGet(port: port, "/-/ready", version: "HTTP/1.0"), ready.status == 200 { break }
            guard Date() < deadline, process.isRunning else {
                throw Failure("prometheus did not become ready on port \(port): \(logText)")
            }
            usleep(100_000)
        }
    }

    var logText: String { (try? String(contentsOfFile: directory.file("prometheus.log"), encoding: .utf8)) ?? "" }

    /// GET /api/v1/query: the instant vector's samples as (labels, value), evaluated now or at
    /// `time` (Unix seconds).
    func query(_ promql: String, time: Double? = nil) throws -> [(labels: [String: String], value: Double)] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: allowed)!
        let at = time.map { "&time=" + String(format: "%.3f", $0) } ?? ""
        let response = try httpGet(port: port, "/api/v1/query?query=\(encoded)\(at)", version: "HTTP/1.0")
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any],
              object["status"] as? String == "success",
              let data = object["data"] as? [String: Any]
        else { throw Failure("query \(promql) failed: \(response.raw)") }
        let result = data["result"] as? [[String: Any]] ?? []
        return result.compactMap { row in
            guard let pair = row["value"] as? [Any], pair.count == 2, let text = pair[1] as? String, let value = Double(text) else { return nil }
            return (row["metric"] as? [String: String] ?? [:], value)
        }
    }

    deinit {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)  // timeout passes it on to prometheus
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            // Kill prometheus itself first: once `timeout` is gone nothing else would.
            let pid = process.processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
            kill(pid, SIGKILL)
        }
        process.waitUntilExit()
    }
}
