#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbePosix
import ProbeWire
import ProbeTestKit
import Testing
@testable import ProbeDaemon

/// Issue 22: each connection may define 4,096 operations and 4,095 error types of 128 bytes, and
/// the name tables of many connections used to add up without bound. All open connections'
/// names are now held to one budget; a DEFINE past it is refused and its connection closed.
@Suite struct IngestNameBudgetTests {
    /// On a thread of its own: `handle` submits to the store feed and waits when it is full, as
    /// the ingest thread does (see `onOwnThread`).
    @Test func namesPastTheBudget_areRefused_andAClosedConnectionGivesTheirBytesBack() async throws {
        try await onOwnThread { try Self.namesPastTheBudget() }
    }

    static func namesPastTheBudget() throws {
        let dir = NSTemporaryDirectory() + "probe-names-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let listenFD = try UnixSocket.listen(path: dir + "/s.sock", mode: 0o600)
        defer { close(listenFD) }
        let store = Store()
        let feed = StoreFeed()
        let drained = Task.detached { await feed.drain(into: store) }
        defer {
            feed.continuation.finish()  // ends the drain, so nothing is left behind (LeakSanitizer)
            _ = drained
        }
        let name = { (i: Int) in "NotFound(id=\(i))" + String(repeating: "x", count: 100) }
        let cost = ConnectionLimits.nameBytes(name(1000))
        let ingest = try IngestServer(listenFD: listenFD, feed: feed, log: Log(level: .error), policy: AccessPolicy(),
                                      control: ControlServer(store: store, log: Log(level: .error)), nameBudgetBytes: 1_000 * cost)
        var peers: [Int32] = []  // the other ends, closed at the end
        defer { peers.forEach { close($0) } }
        func connection() throws -> Int32 {
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else { throw SystemError("socketpair") }
            peers.append(fds[1])
            let peer = try #require(UnixSocket.peerCredentials(fds[0]))
            ingest.connections[fds[0]] = IngestServer.Connection(id: ConnectionID(fds[0]), fd: fds[0], peer: peer)
            let hello = WireEncoder.hello(Hello(pid: 1, service: "names"))
            try hello.withUnsafeBytes { b in try ingest.handle(fds[0], b) }
            return fds[0]
        }
        func define(_ fd: Int32, _ id: Int) throws(WireError) {
            let bytes = WireEncoder.define(Definition(id: UInt32(id), kind: .errorType, name: name(1000 + id)))
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
            defer { copy.deallocate() }
            bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
            try ingest.handle(fd, UnsafeRawBufferPointer(copy))
        }
        let first = try connection()
        for id in 1...600 { try define(first, id) }
        let second = try connection()
        var accepted = 0
        do {
            for id in 1...4095 {
                try define(second, id)
                accepted += 1
            }
        } catch {
            #expect(error.code == .limitExceeded)
            #expect(error.message.contains("MiB of names"))
        }
        #expect(accepted == 400)  // the budget's 1,000 names less the first connection's 600
        #expect(ingest.nameBytes == 1_000 * cost)
        // Defining a name again under its own id costs nothing.
        try define(first, 1)
        ingest.closeConnection(first)
        #expect(ingest.nameBytes == 400 * cost)
        try define(second, 401)
        ingest.closeConnection(second)
        #expect(ingest.nameBytes == 0)
    }
}
