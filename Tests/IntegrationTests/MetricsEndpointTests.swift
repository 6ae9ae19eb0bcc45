import Foundation
import ProbePosix
import Testing

/// The rules operators load, as the repository ships them.
let probeRulesFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tools/prometheus/probe-rules.yml").path

/// The `le` boundaries the README documents, in seconds.
let documentedBoundaries: [Double] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 240,
]

/// What Prometheus's `histogram_quantile` answers for values (in seconds) bucketed at
/// `documentedBoundaries`: linear interpolation inside the bucket holding rank q·n.
func expectedHistogramQuantile(_ q: Double, _ values: [Double]) -> Double {
    let cumulative = documentedBoundaries.map { b in Double(values.filter { $0 <= b }.count) }
    let rank = q * Double(values.count)
    guard let b = cumulative.firstIndex(where: { $0 >= rank }) else { return documentedBoundaries.last! }
    let start = b == 0 ? 0 : documentedBoundaries[b - 1]
    let below = b == 0 ? 0 : cumulative[b - 1]
    return start + (documentedBoundaries[b] - start) * (rank - below) / (cumulative[b] - below)
}

/// The value of label `name` on an exposition line (values without escapes only).
func labelValue(_ line: Substring, _ name: String) -> String? {
    guard let r = line.range(of: "\(name)=\"") else { return nil }
    return String(line[r.upperBound...].prefix { $0 != "\"" })
}

/// Records `durations` (ns) from a real client process; every `failEvery`-th call fails.
func recordWithFixture(_ daemon: RunningDaemon, service: String, operation: String, durations: [UInt64], failEvery: Int = 0,
                       bufferEvents: Int? = nil) throws {
    var environment = ProcessInfo.processInfo.environment
    if let bufferEvents { environment["PROBE_BUFFER_EVENTS"] = String(bufferEvents) }
    let dir = TemporaryDirectory()
    try durations.map(String.init).joined(separator: "\n").write(toFile: dir.file("d"), atomically: true, encoding: .utf8)
    let o = try run(Products.path("probe-fixture"), [
        "--socket", daemon.socket, "--service", service, "--operation", operation,
        "--durations", dir.file("d"), "--fail-every", String(failEvery),
    ], environment: environment)
    guard o.status == 0 else { throw Failure("probe-fixture failed (\(o.status)): \(o.stdout) \(o.stderr)") }
}

@Suite(.serialized) struct MetricsEndpointTests {
    @Test func realPrometheus_scrapesProbed_andAnswersPromQLWithTheRecordedCounts() throws {
        let (daemon, port) = try RunningDaemon.withMetrics(["--warmup", "0"])
        // Two processes of one service: 60 calls of 3 ms (every 10th fails) and 40 of 40 ms.
        try recordWithFixture(daemon, service: "fleet", operation: "predict", durations: Array(repeating: 3_000_000, count: 60), failEvery: 10)
        try recordWithFixture(daemon, service: "fleet", operation: "predict", durations: Array(repeating: 40_000_000, count: 40))
        let counted = Array(repeating: 0.003, count: 54) + Array(repeating: 0.04, count: 40)

        let prometheus = try RunningPrometheus(scraping: ["127.0.0.1:\(port)"], rules: [probeRulesFile])
        let calls = #"probe_calls_total{job="probed",service="fleet",operation="predict"}"#
        let deadline = Date().addingTimeInterval(60)
        var seen: [(labels: [String: String], value: Double)] = []
        while Date() < deadline {
            seen = try prometheus.query(calls)
            if seen.first?.value == 100 { break }
            usleep(250_000)
        }
        try #require(seen.count == 1 && seen[0].value == 100,
                     "Prometheus never reported 100 calls: \(seen); its log: \(prometheus.logText)")
        #expect(seen[0].labels["instance"] == "127.0.0.1:\(port)")
        #expect(try prometheus.query(#"probe_failures_total{service="fleet"}"#).map(\.value) == [6])
        #expect(try prometheus.query(#"probe_call_duration_seconds_count{service="fleet"}"#).map(\.value) == [94])
        let sum = try #require(try prometheus.query(#"probe_call_duration_seconds_sum{service="fleet"}"#).first?.value)
        #expect(abs(sum - counted.reduce(0, +)) < 1e-9)

        for q in [0.5, 0.9, 0.99] {
            let promql = "histogram_quantile(\(q), sum by (le, service, operation) (probe_call_duration_seconds_bucket{service=\"fleet\"}))"
            let got = try #require(try prometheus.query(promql).first?.value)
            let want = expectedHistogramQuantile(q, counted)
            print("histogram_quantile(\(q)): Prometheus \(got) s, from the recorded values \(want) s")
            #expect(abs(got - want) <= 1e-9 * want, "q \(q): \(got) vs \(want)")
        }
        // The README's example queries are valid PromQL against this data (they need two
        // scrapes to give a number; here only their acceptance is checked).
        _ = try prometheus.query("histogram_quantile(0.99, sum by (le, service, operation) (rate(probe_call_duration_seconds_bucket[5m])))")
        _ = try prometheus.query("sum by (service, operation) (rate(probe_failures_total[5m])) / sum by (service, operation) (rate(probe_calls_total[5m]))")

        // Tools/prometheus/probe-rules.yml, loaded as it is: every rule healthy, and once more
        // calls arrive between scrapes (rates need an increase), each recording rule gives the
        // value of its expression at the moment it was evaluated. A second batch like the first.
        let rules = try httpGet(port: prometheus.port, "/api/v1/rules", version: "HTTP/1.0").body
        #expect(rules.contains("\"probe-recording\"") && rules.contains("\"ProbeMemoryLeakSuspected\"") && !rules.contains("\"health\":\"err\""),
                "\(rules)")
        try recordWithFixture(daemon, service: "fleet", operation: "predict", durations: Array(repeating: 3_000_000, count: 60), failEvery: 10)
        try recordWithFixture(daemon, service: "fleet", operation: "predict", durations: Array(repeating: 40_000_000, count: 40))
        let labels = #"{service="fleet",operation="predict"}"#
        let p50 = "service_operation:probe_call_duration_seconds:p50_rate5m", p99 = "service_operation:probe_call_duration_seconds:p99_rate5m"
        let ratio = "service_operation:probe_failures_per_calls:ratio_rate5m"
        // Wait until the 200th call has been scraped, then until every rule was evaluated since.
        let until = Date().addingTimeInterval(60)
        while try prometheus.query(calls).first?.value != 200 && Date() < until { usleep(100_000) }
        let scraped = Date().timeIntervalSince1970
        while Date() < until {
            let stamps = try [p50, p99, ratio].map { try prometheus.query("timestamp(\($0)\(labels))").first?.value ?? 0 }
            if stamps.allSatisfy({ $0 > scraped }) { break }
            usleep(250_000)
        }
        for (name, expression) in [
            (p50, "histogram_quantile(0.5, sum by (service, operation, le) (rate(probe_call_duration_seconds_bucket\(labels)[5m])))"),
            (p99, "histogram_quantile(0.99, sum by (service, operation, le) (rate(probe_call_duration_seconds_bucket\(labels)[5m])))"),
            (ratio, "sum by (service, operation) (rate(probe_failures_total\(labels)[5m])) / sum by (service, operation) (rate(probe_calls_total\(labels)[5m]))"),
        ] {
            let at = try #require(try prometheus.query("timestamp(\(name)\(labels))").first?.value, "\(name) recorded nothing: \(prometheus.logText)")
            let recorded = try #require(try prometheus.query(name + labels, time: at).first?.value)
            let direct = try #require(try prometheus.query(expression, time: at).first?.value)
            print("\(name) = \(recorded) (its expression at the same instant: \(direct))")
            #expect(!recorded.isNaN && abs(recorded - direct) <= 1e-12 * abs(direct), "\(name): \(recorded) vs \(direct)")
        }
        // Both batches: 3 ms calls (le 0.005) are the median, 40 ms ones (le 0.05) the p99, 6% failed.
        let median = try #require(try prometheus.query(p50 + labels).first?.value)
        let tail = try #require(try prometheus.query(p99 + labels).first?.value)
        let failed = try #require(try prometheus.query(ratio + labels).first?.value)
        #expect(median > 0.0025 && median <= 0.005 && tail > 0.025 && tail <= 0.05 && abs(failed - 0.06) < 1e-9, "\(median) \(tail) \(failed)")
    }

    @Test func exposition_passesPromtoolCheckMetrics() throws {
        let promtool = try requireTool("promtool")
        let (daemon, port) = try RunningDaemon.withMetrics(["--warmup", "2"])
        try recordWithFixture(daemon, service: "ranker", operation: "predict", durations: (1...200).map { UInt64($0) * 37_000 }, failEvery: 7)
        // Names may hold quotes, backslashes and any UTF-8 but no control byte (PROTOCOL.md).
        try recordWithFixture(daemon, service: "odd \"name\"\\ é", operation: "a{b}=c", durations: [5, 500, 50_000, 5_000_000, 500_000_000])
        // A connected process, so the per-process families have samples too.
        let probe = try RunningProbe(socket: daemon.socket)

        let response = try scrape(port: port, until: [
            #"probe_calls_total{service="ranker",operation="predict"} 200"#,
            #"probe_calls_total{service="odd \"name\"\\ é",operation="a{b}=c"} 5"#,
            "probe_process_calls_total{service=\"live\",operation=\"tick\",pid=\"\(probe.pid)\"} 1",
            "probed_connected_processes 1\n",
        ])
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.header("Content-Length") == String(response.body.utf8.count))
        let dir = TemporaryDirectory()
        try response.body.write(toFile: dir.file("metrics.txt"), atomically: true, encoding: .utf8)
        let check = try run("/bin/sh", ["-c", "\"$0\" check metrics < \"$1\"", promtool, dir.file("metrics.txt")])
        #expect(check.status == 0, "promtool check metrics: \(check.stdout) \(check.stderr)\n\(response.body)")

        let body = response.body
        for family in ["probe_calls_total", "probe_failures_total", "probe_warmup_calls_total", "probe_call_duration_seconds",
                       "probe_process_calls_total", "probe_process_failures_total", "probe_process_events_received_total",
                       "probe_process_dropped_events_total", "probed_events_received_total", "probed_received_bytes_total",
                       "probed_messages_received_total", "probed_messages_rejected_total", "probed_client_dropped_events_total",
                       "probed_connected_processes", "probed_series", "probed_start_time_seconds", "probed_build_info"] {
            #expect(body.contains("# HELP \(family) ") && body.contains("# TYPE \(family) "), "no HELP/TYPE for \(family)")
        }
        #expect(body.contains(#"probe_calls_total{service="ranker",operation="predict"} 200"#))
        #expect(body.contains(#"probe_failures_total{service="ranker",operation="predict"} 28"#))
        #expect(body.contains(#"probe_warmup_calls_total{service="ranker",operation="predict"} 2"#))
        #expect(body.contains(#"probe_calls_total{service="odd \"name\"\\ é",operation="a{b}=c"} 5"#))
        #expect(body.contains("probe_process_calls_total{service=\"live\",operation=\"tick\",pid=\"\(probe.pid)\"} 1"))
        #expect(body.contains("probed_connected_processes 1"))
        // Exited processes' pids do not linger: only the live one has per-process series.
        let pids = Set(body.split(separator: "\n").filter { $0.hasPrefix("probe_process_") }.compactMap { labelValue($0, "pid") })
        #expect(pids == [String(probe.pid)])
        // Every histogram has the documented boundaries, in order.
        let les = body.split(separator: "\n")
            .filter { $0.hasPrefix(#"probe_call_duration_seconds_bucket{service="ranker""#) }
            .compactMap { labelValue($0, "le") }
        #expect(les.dropLast().map { Double($0)! } == documentedBoundaries && les.last == "+Inf")
        print("exposition: \(body.utf8.count) bytes, \(body.split(separator: "\n").count) lines; promtool exit \(check.status)")
    }

    @Test func badRequests_getTheRightStatus_andTheConnectionIsClosed() throws {
        let (daemon, port) = try RunningDaemon.withMetrics()
        _ = daemon
        let notFound = try httpGet(port: port, "/")
        #expect(notFound.status == 404 && notFound.body.contains("/metrics") && notFound.closedByServer)
        #expect(try httpGet(port: port, "/metricsz").status == 404)

        let post = try httpExchange(port: port, Array("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".utf8))
        #expect(post.status == 405 && post.header("Allow") == "GET, HEAD" && post.closedByServer)
        #expect(try httpExchange(port: port, Array("DELETE /metrics HTTP/1.1\r\n\r\n".utf8)).status == 405)

        let garbage = try httpExchange(port: port, Array("hello there\r\n\r\n".utf8))
        #expect(garbage.status == 400 && garbage.closedByServer)
        #expect(try httpExchange(port: port, Array("GET /metrics HTTP/2.0\r\n\r\n".utf8)).status == 505)
        #expect(try httpExchange(port: port, Array("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".utf8)).status == 413)

        // 64 KiB of headers: refused once the 8 KiB limit is passed, and the answer arrives intact.
        let long = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: " + String(repeating: "a", count: 65_536) + "\r\n\r\n"
        let tooLong = try httpExchange(port: port, Array(long.utf8))
        #expect(tooLong.status == 431 && tooLong.closedByServer, "\(tooLong.raw.prefix(200))")

        // HEAD: the headers of a scrape, no body.
        let head = try httpExchange(port: port, Array("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(head.status == 200 && head.body.isEmpty && Int(head.header("Content-Length") ?? "") ?? 0 > 0)
        // A query string is fine, and HTTP/1.0 too.
        #expect(try httpGet(port: port, "/metrics?x=1", version: "HTTP/1.0").status == 200)
    }

    @Test func silentAndTricklingConnections_areClosedAfterTheReadTimeout_whileScrapesGoOn() throws {
        let (daemon, port) = try RunningDaemon.withMetrics()
        try recordWithFixture(daemon, service: "svc", operation: "op", durations: [1_000, 2_000, 3_000])
        _ = try scrape(port: port, until: [#"probe_calls_total{service="svc",operation="op"} 3"#])
        let results = Locked<[String: HTTPExchange]>([:])
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let silent = try? httpExchange(port: port, nil)
            if let silent { results.update { $0["silent"] = silent } }
        }
        DispatchQueue.global().async(group: group) {
            // Half a request head, then nothing.
            let partial = try? httpExchange(port: port, Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8))
            if let partial { results.update { $0["partial"] = partial } }
        }
        // Meanwhile, eight scrapes at once all succeed.
        usleep(200_000)
        let scrapes = Locked<[Int?]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let r = try? httpGet(port: port, "/metrics")
            scrapes.update { $0.append(r?.status) }
            _ = r.map { #expect($0.body.contains(#"probe_calls_total{service="svc",operation="op"} 3"#)) }
        }
        #expect(scrapes.get().count == 8 && scrapes.get().allSatisfy { $0 == 200 }, "\(scrapes.get())")
        group.wait()
        for name in ["silent", "partial"] {
            let r = try #require(results.get()[name], "no result for the \(name) connection")
            print("\(name) connection: closed by probed after \(String(format: "%.2f", r.seconds)) s with \(r.status.map(String.init) ?? "nothing")")
            #expect(r.closedByServer && r.status == 408, "\(name): \(r.raw)")
        }
    }

    @Test func scrapesDuringIngest_loseNothing() throws {
        let (daemon, port) = try RunningDaemon.withMetrics()
        let stop = Locked(false)
        let scrapes = Locked<[Int?]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                while !stop.get() { let status = try? httpGet(port: port, "/metrics").status; scrapes.update { $0.append(status) } }
            }
        }
        // A client buffer of 65,536 events per CPU shard (64 at most) holds them all, so none
        // can be dropped however slowly probed drains them.
        let start = Date()
        try recordWithFixture(daemon, service: "busy", operation: "op", durations: (0..<50_000).map { 1_000 + UInt64($0 % 5_000) },
                              bufferEvents: 64 * 65_536)
        let seconds = Date().timeIntervalSince(start)
        stop.set(true)
        group.wait()
        #expect(scrapes.get().allSatisfy { $0 == 200 }, "\(scrapes.get().filter { $0 != 200 })")
        let body = try scrape(port: port, until: [#"probe_calls_total{service="busy",operation="op"} 50000"#]).body
        #expect(body.contains(#"probe_calls_total{service="busy",operation="op"} 50000"#))
        #expect(body.contains("probed_client_dropped_events_total 0\n"))
        print("50,000 events recorded and delivered in \(String(format: "%.2f", seconds)) s while \(scrapes.get().count) scrapes ran")
    }

    @Test(arguments: [["--metrics-listen", "9464"], ["--metrics-listen", "127.0.0.1:99999"], ["--metrics-listen", "::1:9464"],
                      ["--metrics-listen", "no-such-host.invalid:9464"], ["--metrics-listen"]])
    func badMetricsAddress_exitsTwo_namingTheFlag(_ arguments: [String]) throws {
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probed"), ["--socket", dir.file("p.sock")] + arguments, timeout: 30)
        #expect(o.status == 2 && o.stderr.contains("--metrics-listen"), "\(o.status): \(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("p.sock")))
    }

    @Test func metricsPortInUse_exitsOne_sayingSo() throws {
        let (fd, port) = try TCPSocket.listen(TCPAddress(host: "127.0.0.1", port: 0))
        defer { close(fd) }
        let dir = TemporaryDirectory()
        let o = try run(Products.path("probed"), ["--socket", dir.file("p.sock"), "--metrics-listen", "127.0.0.1:\(port)"], timeout: 30)
        #expect(o.status == 1 && o.stderr.contains("--metrics-listen") && o.stderr.contains("in use"), "\(o.status): \(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("p.sock")))
    }
}

/// A client process that stays connected (records one call, then waits) until deinit.
final class RunningProbe: @unchecked Sendable {
    let process = Process()
    let directory = TemporaryDirectory()
    var pid: Int32 { process.processIdentifier }

    init(socket: String) throws {
        // The fixture records, flushes, then sleeps while its stdin stays open.
        try "1000".write(toFile: directory.file("d"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: Products.path("probe-fixture"))
        process.arguments = ["--socket", socket, "--service", "live", "--operation", "tick", "--durations", directory.file("d"), "--linger", "60"]
        process.standardOutput = Pipe()
        try process.run()
        let out = (process.standardOutput as! Pipe).fileHandleForReading
        // The fixture prints its line once the call has been delivered.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.availableData
            if chunk.isEmpty { throw Failure("probe-fixture exited before recording") }
            line.append(chunk)
        }
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
