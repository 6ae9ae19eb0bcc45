// swift-tools-version:6.0
import PackageDescription

// The target graph is the architecture (Sources/README.md says where a change belongs):
//   ProbeWire       — protocol v1 codec (no Foundation, no I/O)
//   ProbePosix      — thin seams over sockets, clocks and paths (no Foundation)
//   ProbeClient     — the library a service links (no Foundation)
//   ProbeControl    — probectl <-> probed request/response types and the control client
//   ProbeStatistics — histograms, windows, trends: pure arithmetic, standard library only
//   CNVML           — our NVML declarations and a dlopen loader (GPU figures, loaded at run time)
//   ProbeDaemon     — probed's parts, a folder each: Ingest, Store, Control, Metrics, Memory, GPU, Service
//   ProbeCLI        — probectl's commands and table rendering
//   probed, probectl, probe-demo — thin executables over those libraries
let package = Package(
    name: "probe",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ProbeClient", targets: ["ProbeClient"]),
        .executable(name: "probed", targets: ["probed"]),
        .executable(name: "probectl", targets: ["probectl"]),
        .executable(name: "probe-demo", targets: ["probe-demo"]),
    ],
    targets: [
        .target(name: "ProbeWire"),
        .target(name: "CProbeSys"),
        // Our declarations of the NVML subset probed uses, and a dlopen loader: no NVIDIA package needed.
        .target(name: "CNVML", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "ProbePosix", dependencies: ["CProbeSys"]),
        .target(name: "ProbeClient", dependencies: ["ProbeWire", "ProbePosix", "CProbeSys"]),
        .target(name: "ProbeControl", dependencies: ["ProbeWire", "ProbePosix"]),
        // Pure arithmetic: imports nothing but the standard library (see Sources/ProbeStatistics/README.md).
        .target(name: "ProbeStatistics", exclude: ["README.md"]),
        .target(name: "ProbeDaemon", dependencies: ["ProbeWire", "ProbePosix", "ProbeControl", "ProbeStatistics", "CNVML"]),
        .target(name: "ProbeCLI", dependencies: ["ProbeControl", "ProbePosix", "ProbeStatistics"]),
        .executableTarget(name: "probed", dependencies: ["ProbeDaemon"]),
        .executableTarget(name: "probectl", dependencies: ["ProbeCLI"]),
        .executableTarget(name: "probe-demo", dependencies: ["ProbeClient", "ProbePosix"]),
        // A real client process for the integration tests: records exactly what it is told to.
        .executableTarget(
            name: "probe-fixture",
            dependencies: ["ProbeClient", "ProbePosix"],
            path: "Tests/Fixtures/ProbeFixture"
        ),
        // A client process that measures real calls with items and attributes, some slow, some failing.
        .executableTarget(
            name: "probe-slow-fixture",
            dependencies: ["ProbeClient", "ProbePosix"],
            path: "Tests/Fixtures/SlowFixture"
        ),
        // A client process whose memory the tests know: leaks steadily, allocates once, or records deltas.
        .executableTarget(
            name: "probe-leak-fixture",
            dependencies: ["ProbeClient", "ProbePosix"],
            path: "Tests/Fixtures/LeakFixture"
        ),
        // A pre-fork server in miniature: forks workers (no exec) while another thread records.
        .executableTarget(
            name: "probe-fork-fixture",
            dependencies: ["ProbeClient", "ProbePosix"],
            path: "Tests/Fixtures/ForkFixture"
        ),
        // The per-thread malloc counter the benchmark reads (allocations per call).
        .target(name: "CMallocCounter", path: "Tools/MallocCounter"),
        // The benchmark (Tools/Benchmark), one table: `swift build -c release && .build/release/probe-bench`.
        .executableTarget(
            name: "probe-bench",
            dependencies: ["ProbeClient", "ProbePosix", "ProbeControl", "ProbeStatistics", "ProbeTestKit", "CMallocCounter"],
            path: "Tools/Benchmark"
        ),
        // A client under steady load, for the resilience tests (daemon stopped, killed, restarted).
        .executableTarget(
            name: "probe-load-fixture",
            dependencies: ["ProbeClient", "ProbePosix"],
            path: "Tests/Fixtures/LoadFixture"

        ),
        .testTarget(name: "ProbeWireTests", dependencies: ["ProbeWire"]),
        // What the tests and the benchmark share: seeded samples, exact reference figures, the
        // fixtures' report line.
        .target(name: "ProbeTestKit", path: "Tests/ProbeTestKit"),
        .testTarget(name: "ProbeStatisticsTests", dependencies: ["ProbeStatistics", "ProbeTestKit"]),
        .testTarget(name: "ProbeControlTests", dependencies: ["ProbeControl"]),
        .testTarget(
            name: "ProbeDaemonTests",
            dependencies: ["ProbeDaemon", "ProbeStatistics", "ProbeTestKit", "ProbeWire", "ProbeControl", "ProbePosix", "CNVML"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ProbeControl", "ProbeWire", "ProbePosix", "ProbeClient", "ProbeTestKit", "ProbeStatistics", "ProbeCLI"]
        ),
    ]
)
