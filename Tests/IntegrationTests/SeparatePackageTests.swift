import Foundation
import ProbeControl
import Testing

/// What a new user does first: a service of their own, in a package of its own, that links
/// ProbeClient exactly as the README says (issue 21, item 1).
@Suite struct SeparatePackageTests {
    /// The repository's root: this file is Tests/IntegrationTests/SeparatePackageTests.swift.
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The README's fenced `swift` blocks of its section "Using ProbeClient in a service".
    static func readmeBlocks() throws -> [String] {
        let readme = try String(contentsOf: checkout.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Using ProbeClient in a service").dropFirst().first)
            .components(separatedBy: "\n## ").first ?? ""
        return section.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```").first ?? "" }
    }

    /// The README's Package.swift in a fresh folder named after the service, beside a copy of this
    /// checkout named `probe` (the README's `../probe`): `swift build`, then the service runs
    /// against a real probed (found through `$PROBED_SOCKET`) and its calls arrive. The README's
    /// usage code is the service's main.swift, with stand-ins for the model it calls.
    @Test(.timeLimit(.minutes(10)),
          .disabled(if: Sanitizer.name != nil, "builds with the plain toolchain: no process of probe's for a sanitizer to check; Tools/test.sh runs it"))
    func readmePackageManifest_buildsAFreshPackage_andItsCallsReachProbed() throws {
        let blocks = try Self.readmeBlocks()
        let manifest = try #require(blocks.first { $0.hasPrefix("// swift-tools-version") }, "the README shows a whole Package.swift")
        let usage = try #require(blocks.first { $0.hasPrefix("import ProbeClient") }, "the README shows the client's use")
        #expect(manifest.contains(".package(path: \"../probe\")") && manifest.contains(".package(url: "))

        let workspace = TemporaryDirectory()
        let probe = workspace.file("probe"), service = workspace.file("ranker")
        let fm = FileManager.default
        try fm.createDirectory(atPath: probe, withIntermediateDirectories: true)
        for item in ["Package.swift", "Sources", "Tests", "Tools"] {
            try fm.copyItem(atPath: Self.checkout.appendingPathComponent(item).path, toPath: probe + "/" + item)
        }
        try fm.createDirectory(atPath: service + "/Sources/ranker", withIntermediateDirectories: true)
        try manifest.write(toFile: service + "/Package.swift", atomically: true, encoding: .utf8)
        try usage.write(toFile: service + "/Sources/ranker/main.swift", atomically: true, encoding: .utf8)
        try Self.standIns.write(toFile: service + "/Sources/ranker/Model.swift", atomically: true, encoding: .utf8)

        let started = Date()
        let build = try run("/usr/bin/env", ["swift", "build", "--package-path", service], timeout: 540)
        print("the README's package built in \(Int(Date().timeIntervalSince(started))) s")
        #expect(build.status == 0, "swift build of the README's package:\n\(build.stdout)\n\(build.stderr)")
        guard build.status == 0 else { return }

        let daemon = try RunningDaemon()
        var environment = ProcessInfo.processInfo.environment
        environment["PROBED_SOCKET"] = daemon.socket
        let ranker = try run(service + "/.build/debug/ranker", [], environment: environment)
        #expect(ranker.status == 0, "\(ranker.stdout)\(ranker.stderr)")
        let operations = try daemon.stats().operations.filter { $0.pid == nil && $0.service == "ranker" }
        #expect(Set(operations.map(\.operation)) == ["predict", "postprocess", "embed", "queue_wait"], "\(operations)")
        #expect(operations.allSatisfy { $0.calls == 1 }, "\(operations)")
    }

    /// What the README's usage code calls: a request, a model, an encoder, a measured wait, and a
    /// call of the `handle` function it defines (its top level does not call it).
    static let standIns = """
        struct Request { var batch: [Float] }
        struct Response { var top: [Float] }
        struct Model { func predict(_ batch: [Float]) throws -> [Float] { batch.map { $0 * 2 } } }
        struct Encoder { func run(_ text: String) async throws -> [Float] { text.utf8.map { Float($0) } } }
        extension Array where Element == Float { func topK(_ k: Int) -> [Float] { Array(sorted(by: >).prefix(k)) } }
        let model = Model()
        let encoder = Encoder()
        let waited: UInt64 = 1_500_000
        /// The query the README's code encodes; reading it first handles one request.
        let text: String = {
            _ = try? handle(Request(batch: [1, 2, 3]))
            return "a query"
        }()
        """
}
