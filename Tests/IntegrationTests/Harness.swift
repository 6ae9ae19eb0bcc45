import Foundation
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// Paths of the built executables: they sit next to the test bundle.
enum Products {
    static let directory: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The runner may live inside `probePackageTests.xctest/`: step out of any bundle folder.
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "MacOS" { dir = dir.deletingLastPathComponent() }
        return dir
    }()

    static func path(_ name: String) -> String {
        let p = directory.appendingPathComponent(name).path
        precondition(FileManager.default.isExecutableFile(atPath: p), "\(p) is missing: run `swift build` before `swift test`")
        return p
    }
}

/// The sanitizer the products were built with, as Tools/sanitizers.sh says (`PROBE_SANITIZER`):
/// its processes' memory figures are the sanitizer's, not the code's.
enum Sanitizer {
    static let name = ProcessInfo.processInfo.environment["PROBE_SANITIZER"]
    /// ASan holds freed memory in quarantine (up to 256 MiB) and pads every allocation; TSan maps
    /// shadow memory: resident-memory growth then says nothing about leaks.
    static var distortsMemory: Bool { name != nil }
}

/// The result of running a process to completion.
struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments` and waits (killing it after `timeout`).
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: TimeInterval = 60) throws -> Outcome {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let outData = Locked(Data()), errData = Locked(Data())
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData.set(out.fileHandleForReading.readDataToEndOfFile()); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData.set(err.fileHandleForReading.readDataToEndOfFile()); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(5_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    group.wait()
    return Outcome(status: p.terminationStatus, stdout: String(decoding: outData.get(), as: UTF8.self),
                   stderr: String(decoding: errData.get(), as: UTF8.self))
}

final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func update(_ change: (inout T) -> Void) { lock.lock(); change(&value); lock.unlock() }
}

/// A temporary directory removed at deinit.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "probe-test-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// A real probed on its own temporary socket, stopped (SIGTERM, then SIGKILL) at deinit.
final class RunningDaemon: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let socket: String
    let process = Process()
    let log: String

    /// `descriptorLimit`: run probed with RLIMIT_NOFILE (soft and hard) at this (a shell's `ulimit -n`).
    init(_ arguments: [String] = [], socket: String? = nil, environment: [String: String]? = nil, descriptorLimit: Int? = nil) throws {
        self.socket = socket ?? directory.file("probed.sock")
        log = directory.file("probed.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: Products.path("probed"))
        // An empty configuration file of its own unless the test names one: a probed installed on
        // this machine (/etc/probed.conf, e.g. allow-group) must not change what the tests see.
        var config: [String] = []
        if !arguments.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            let empty = directory.file("probed.conf")
            _ = FileManager.default.createFile(atPath: empty, contents: nil)
            config = ["--config", empty]
        }
        process.arguments = ["--socket", self.socket, "--log-level", "debug"] + config + arguments
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", Products.path("probed")] + process.arguments!
        }
        if let environment { process.environment = environment }
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !UnixSocket.isLive(path: self.socket) {
            guard Date() < deadline, process.isRunning else {
                throw Failure("probed did not start listening on \(self.socket): \(logText)")
            }
            usleep(10_000)
        }
    }

    var pid: Int32 { process.processIdentifier }
    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { stop() }

    func probectl(_ arguments: [String]) throws -> Outcome {
        try run(Products.path("probectl"), ["--socket", socket] + arguments)
    }

    func stats(window: String? = nil) throws -> StatsReport {
        let o = try probectl(["stats", "--json"] + (window.map { ["--window", $0] } ?? []))
        guard o.status == 0 else { throw Failure("probectl stats failed (\(o.status)): \(o.stderr)") }
        return try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(o.stdout.utf8))
    }

    /// `probectl status --json`, asked again while probed reports that it is behind its clients
    /// (`up_to_date` false: a loaded or sanitizer-slowed daemon), so tests see exact figures.
    func status() throws -> StatusReport {
        let deadline = Date().addingTimeInterval(60)
        while true {
            let o = try probectl(["status", "--json"])
            guard o.status == 0 else { throw Failure("probectl status failed (\(o.status)): \(o.stderr)") }
            let report = try JSONDecoder.snakeCase.decode(StatusReport.self, from: Data(o.stdout.utf8))
            if report.upToDate != false || Date() > deadline { return report }
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}

/// A hand-driven protocol peer, for sending exactly the bytes a test wants.
final class RawPeer {
    let fd: Int32
    init(_ path: String) throws {
        fd = try UnixSocket.connect(path: path)
        UnixSocket.setTimeouts(fd, send: 5_000_000_000, receive: 5_000_000_000)
    }
    deinit { close(fd) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool { UnixSocket.send(fd, bytes) }

    /// The next message other than an ACK (acknowledgements of earlier EVENTS), nil at end of
    /// stream or timeout.
    func receive() -> Message? {
        while true {
            let m = receiveAny()
            if case .ack? = m { continue }
            return m
        }
    }

    /// The next message, nil at end of stream or timeout.
    func receiveAny() -> Message? {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
        guard n > 0 else { return nil }
        return try? WireDecoder.decode(Array(buffer[0..<n]))
    }

    /// True when the daemon has closed this connection (recv returns 0).
    func isClosedByPeer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        while true {
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// HELLO, then expects WELCOME.
    func handshake(service: String = "raw") throws {
        send(WireEncoder.hello(Hello(pid: UInt32(getpid()), service: service)))
        guard case .welcome? = receive() else { throw Failure("no WELCOME") }
    }
}
