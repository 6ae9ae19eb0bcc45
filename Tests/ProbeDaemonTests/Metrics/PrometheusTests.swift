import ProbePosix
import ProbeStatistics
import Testing
@testable import ProbeDaemon

@Suite struct PrometheusExpositionTests {
    @Test func boundaries_areTheHistogramsExactEdges_andTheirLabelsTheirValue() {
        let boundaries = PrometheusExposition.durationBoundaries
        #expect(boundaries.map(\.nanoseconds) == Histogram.exactEdges)
        for b in boundaries {
            #expect(Double(b.label)! * 1e9 == Double(b.nanoseconds), "label \(b.label) is not \(b.nanoseconds) ns")
        }
    }

    /// Prometheus's `le` is "less than or equal": a call of exactly B is in le=B, one of B + 1 ns
    /// is not, one of B - 1 ns is — at every boundary, and in a histogram that went through the
    /// compact form (the lifetime figures) as well as a fresh one.
    @Test func everyBoundary_countsExactlyTheCallsAtOrBelowIt_oneNanosecondEitherSide() {
        let boundaries = PrometheusExposition.durationBoundaries
        for (i, b) in boundaries.enumerated() {
            for (offset, countedAtB) in [(-1, true), (0, true), (1, false)] {
                let value = UInt64(Int64(b.nanoseconds) + Int64(offset))
                var h = Histogram()
                h.record(value)
                for counts in [PrometheusExposition.cumulativeCounts(h), PrometheusExposition.cumulativeCounts(CompactHistogram(h).histogram)] {
                    #expect(counts[i] == (countedAtB ? 1 : 0), "\(value) ns at le=\(b.label)")
                    if i > 0 { #expect(counts[i - 1] == 0, "\(value) ns at le=\(boundaries[i - 1].label)") }
                    if i + 1 < boundaries.count { #expect(counts[i + 1] == 1, "\(value) ns at le=\(boundaries[i + 1].label)") }
                }
            }
        }
        // Whole milliseconds, as frameworks that report ms give them: each sits on its boundary.
        var h = Histogram()
        for ms in [1, 1, 5, 10, 250, 1_000] as [UInt64] { h.record(ms * 1_000_000) }
        let counts = PrometheusExposition.cumulativeCounts(h)
        let at = { (label: String) in counts[boundaries.firstIndex { $0.label == label }!] }
        #expect(at("0.0005") == 0 && at("0.001") == 2 && at("0.0025") == 2 && at("0.005") == 3 && at("0.01") == 4)
        #expect(at("0.25") == 5 && at("0.5") == 5 && at("1") == 6)
    }

    @Test func cumulativeCounts_areCumulative_andEndAtTheLastBoundary() {
        var h = Histogram()
        h.record(999)
        h.record(3_000_000)
        h.record(3_000_000)
        h.record(400_000_000_000)  // 400 s: past the last boundary, only in +Inf
        let counts = PrometheusExposition.cumulativeCounts(h)
        #expect(counts.first == 1 && counts.last == 3 && zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(PrometheusExposition.cumulativeCounts(Histogram()).allSatisfy { $0 == 0 })
    }

    @Test func cumulativeCounts_ofTheLongestDurationAPeerCanSend_countItOnlyAtInfinity() {
        var h = Histogram()
        h.record(.max)  // the top bucket, which reaches 2^64 - 1
        h.record(1)
        #expect(h.buckets().last?.upperBound == .max)
        #expect(PrometheusExposition.cumulativeCounts(h).allSatisfy { $0 == 1 })
    }

    @Test func render_mergesOperationsAcrossProcesses_andShowsPidsOnlyForConnectedOnes() async throws {
        let store = Store(configuration: .init(warmup: 1), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        await store.connect(2, pid: 200, service: "svc", operations: ["predict"])
        await store.record(1, durations: [1, 2_000_000, 2_000_000])
        await store.record(2, durations: [1, 2_000_000], dropped: 7)
        await store.record(2, durations: [2_000_000], failed: true)
        await store.apply(.disconnected(2))
        let text = PrometheusExposition.render(await store.metricsSnapshot())
        #expect(text.contains("probe_calls_total{service=\"svc\",operation=\"predict\"} 6\n"))
        #expect(text.contains("probe_failures_total{service=\"svc\",operation=\"predict\"} 1\n"))
        #expect(text.contains("probe_warmup_calls_total{service=\"svc\",operation=\"predict\"} 2\n"))
        #expect(text.contains("probe_call_duration_seconds_bucket{service=\"svc\",operation=\"predict\",le=\"0.001\"} 0\n"))
        #expect(text.contains("probe_call_duration_seconds_bucket{service=\"svc\",operation=\"predict\",le=\"0.0025\"} 3\n"))
        #expect(text.contains("probe_slow_calls_total{service=\"svc\",operation=\"predict\"} 0\n"))
        #expect(text.contains("probe_items_total{service=\"svc\",operation=\"predict\"} 6\n"))
        #expect(text.contains("probe_device_synchronized_calls_total{service=\"svc\",operation=\"predict\"} 0\n"))
        #expect(text.contains("probed_gpu_available 0\n") && !text.contains("probe_gpu_"), "no GPU families without NVML")
        #expect(text.contains("probe_call_duration_seconds_bucket{service=\"svc\",operation=\"predict\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("probe_call_duration_seconds_sum{service=\"svc\",operation=\"predict\"} 0.006\n"))
        #expect(text.contains("probe_call_duration_seconds_count{service=\"svc\",operation=\"predict\"} 3\n"))
        // pid 200 has gone: no per-process series for it, but its drops stay in the daemon total.
        #expect(text.contains("probe_process_calls_total{service=\"svc\",operation=\"predict\",pid=\"100\"} 3\n"))
        #expect(!text.contains("pid=\"200\""))
        #expect(text.contains("probe_process_events_received_total{service=\"svc\",pid=\"100\"} 3\n"))
        #expect(text.contains("probed_client_dropped_events_total 7\n"))
        #expect(text.contains("probed_connected_processes 1\n") && text.contains("probed_series 2\n"))
        #expect(text.contains("probed_events_received_total 6\n"))
        // Each family once, HELP before TYPE before samples.
        for family in ["probe_calls_total", "probe_call_duration_seconds", "probed_series"] {
            let help = try #require(text.range(of: "# HELP \(family) "))
            let type = try #require(text.range(of: "# TYPE \(family) "))
            #expect(help.lowerBound < type.lowerBound)
            #expect(text.components(separatedBy: "# TYPE \(family) ").count == 2)
        }
    }

    @Test func fiveThousandSeries_snapshotAndRender_printTheirCost() async {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        for c in 0..<50 {
            let id = ConnectionID(c + 1)
            await store.connect(id, pid: Int32(1000 + c), service: "svc\(c % 5)", operations: (0..<100).map { "op\($0)" })
            for op in 0..<100 {
                await store.record(id, operation: UInt32(op), durations: (1...20).map { UInt64($0) * 150_000 })
            }
        }
        let clock = ContinuousClock()
        var snapshot = MetricsSnapshot()
        let taken = await clock.measure { snapshot = await store.metricsSnapshot() }
        var text = ""
        let rendered = clock.measure { text = PrometheusExposition.render(snapshot) }
        print("5,000 series: snapshot \(taken) (inside the store), render \(rendered) (outside it), \(text.utf8.count) bytes")
        #expect(snapshot.series == 5_000 && text.contains("probed_series 5000\n"))
    }

    /// The leak trends are fitted while the scrape renders (outside the store): what that costs
    /// with 64 processes whose 5-minute windows are full (300 samples each), printed.
    @Test func sixtyFourProcessesWithFullMemoryWindows_renderPrintsItsCost() async {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        for c in 0..<64 { await store.connect(ConnectionID(c + 1), pid: Int32(2000 + c), service: "svc", operations: ["op"]) }
        for second in 0..<300 as Range<UInt64> {
            _ = await store.recordMemorySamples((0..<64).map { (c: Int) -> (ConnectionID, ProcStatus) in
                let growth: UInt64 = second * UInt64(c % 3)  // MiB: pid 2001 grows 1 MiB/s
                let status = ProcStatus(rssBytes: (100 + growth) << 20, peakBytes: 400 << 20, anonBytes: (50 + growth) << 20)
                return (ConnectionID(c + 1), status)
            })
            clock.advance(seconds: 1)
        }
        let clock2 = ContinuousClock()
        var snapshot = MetricsSnapshot()
        let taken = await clock2.measure { snapshot = await store.metricsSnapshot() }
        var text = ""
        let rendered = clock2.measure { text = PrometheusExposition.render(snapshot) }
        print("64 processes with full 5-minute memory windows: snapshot \(taken) (inside the store), render with the fits \(rendered)")
        #expect(text.components(separatedBy: "probe_process_memory_leak_suspected{").count == 65)
        #expect(text.contains("probe_process_memory_growth_bytes_per_second{service=\"svc\",pid=\"2001\"} 1048576\n"))
    }

    @Test func labelValues_andHelp_areEscaped() {
        var w = PrometheusWriter(capacity: 0)
        w.family("m", .gauge, "a \\ b\nc")
        w.sample("m", [("l", "q\"b\\n\nz")], UInt64(1))
        w.sample("m", [], 0.5)
        #expect(w.text == "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{l=\"q\\\"b\\\\n\\nz\"} 1\nm 0.5\n")
    }

    @Test func reconnectingProcess_keepsOneProcessSeries_withItsLargestDropCount() async {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.record(1, durations: [10], dropped: 5)
        await store.apply(.disconnected(1))
        await store.connect(2, pid: 100, service: "svc", operations: ["op"])
        await store.record(2, durations: [10, 10], dropped: 9)
        let snapshot = await store.metricsSnapshot()
        #expect(snapshot.processes.count == 1)
        #expect(snapshot.processes.first?.eventsReceived == 3 && snapshot.processes.first?.droppedEvents == 9)
        #expect(snapshot.droppedEvents == 9 && snapshot.connectedProcesses == 1)
    }
}

@Suite struct MetricsHTTPTests {
    func status(_ request: String) -> Int {
        switch MetricsServer.route(Array(request.utf8)) {
        case .success: 200
        case .failure(let e): e.status
        }
    }

    @Test func route_answersEachKindOfRequest() {
        #expect(status("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n") == 200)
        #expect(status("GET /metrics?name[]=x HTTP/1.0\n\n") == 200)
        #expect(status("HEAD /metrics HTTP/1.1\r\n\r\n") == 200)
        #expect(status("GET / HTTP/1.1\r\n\r\n") == 404)
        #expect(status("GET /metrics/ HTTP/1.1\r\n\r\n") == 404)
        #expect(status("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 405)
        #expect(status("PUT /other HTTP/1.1\r\n\r\n") == 405)
        #expect(status("GET /metrics HTTP/1.1\r\nContent-Length: 10\r\n\r\n") == 413)
        #expect(status("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 413)
        #expect(status("GET /metrics HTTP/1.1\r\nContent-Length: ten\r\n\r\n") == 400)
        #expect(status("GET /metrics HTTP/2.0\r\n\r\n") == 505)
        #expect(status("GET /metrics\r\n\r\n") == 400)
        #expect(status("get /metrics HTTP/1.1\r\n\r\n") == 400)
        #expect(status("GET metrics HTTP/1.1\r\n\r\n") == 400)
        #expect(status("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n") == 400)
        #expect(status("GET /metrics HTTP/1.1\r\n folded: header\r\n\r\n") == 400)
        #expect(MetricsServer.route([0x47, 0x45, 0x54, 0x20, 0xFF, 0x0D, 0x0A, 0x0D, 0x0A]) == .failure(.init(status: 400, message: "the request is not valid UTF-8")))
    }

    @Test func endOfHead_findsCRLFCRLF_orLFLF() {
        #expect(MetricsServer.endOfHead(Array("GET / HTTP/1.1\r\n\r\nbody".utf8), from: 0) == 18)
        #expect(MetricsServer.endOfHead(Array("GET / HTTP/1.1\n\n".utf8), from: 0) == 16)
        #expect(MetricsServer.endOfHead(Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8), from: 0) == nil)
    }

    @Test func responses_carryLengthTypeAndClose() {
        let text = String(decoding: MetricsServer.response(status: 200, contentType: PrometheusExposition.contentType, body: "a 1\n", headOnly: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n")
        let refused = String(decoding: MetricsServer.response(.init(status: 405, message: "no"), headOnly: false), as: UTF8.self)
        #expect(refused.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n") && refused.contains("Allow: GET, HEAD\r\n"))
    }
}

@Suite struct MetricsOptionsTests {
    @Test func metricsListen_parsesHostAndPort() throws {
        #expect(try DaemonOptions.parse([]).metricsAddress == nil)
        #expect(try DaemonOptions.parse(["--metrics-listen", "127.0.0.1:9464"]).metricsAddress == TCPAddress(host: "127.0.0.1", port: 9464))
        #expect(try DaemonOptions.parse(["--metrics-listen=[::1]:9464"]).metricsAddress == TCPAddress(host: "::1", port: 9464))
        #expect(try DaemonOptions.parse(["--metrics-listen", ":9464"]).metricsAddress == TCPAddress(host: nil, port: 9464))
        #expect(try DaemonOptions.parse(["--metrics-listen", "localhost:0"]).metricsAddress == TCPAddress(host: "localhost", port: 0))
        #expect(TCPAddress(host: "::1", port: 1).description == "[::1]:1")
    }

    @Test(arguments: ["9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9464", "[::1:9464", "[]:9464", "a b:1", "127.0.0.1:http"])
    func metricsListen_badValue_isAUsageErrorNamingTheFlag(_ value: String) {
        #expect {
            _ = try DaemonOptions.parse(["--metrics-listen", value])
        } throws: { error in
            "\(error)".hasPrefix("--metrics-listen: ")
        }
    }
}
