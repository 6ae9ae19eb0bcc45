import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// Each kind of bad input gets its documented ERROR code and a closed connection, the daemon
/// logs the peer's pid, and a well-behaved client alongside keeps its exact counts.
@Suite(.serialized) struct MalformedInputTests {
    static func events(_ records: [EventRecord], dropped: UInt64 = 0) -> [UInt8] {
        WireEncoder.events(droppedTotal: dropped, records: records)
    }

    static let record = EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000)

    /// (name, needs handshake + define first, bytes, expected code)
    static let cases: [(String, Bool, [UInt8], WireErrorCode)] = {
        var hello = WireEncoder.hello(Hello(pid: 1, service: "bad"))
        var truncated = hello
        truncated.removeLast(3)
        var oversized = events([])
        oversized += [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes + 100 - oversized.count)
        oversized.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(oversized.count).littleEndian, Array.init))
        var unknownType = WireEncoder.controlRequest("{}")
        unknownType[0] = 0x7E
        var badVersion = hello
        badVersion[1] = 9
        let future = WireEncoder.hello(Hello(minVersion: 2, maxVersion: 3, pid: 1, service: "future"))
        let undefinedOp = events([EventRecord(operationID: 17, startNanoseconds: 1, durationNanoseconds: 5)])
        var longName = WireEncoder.define(Definition(id: 1, kind: .operation, name: String(repeating: "n", count: 129)))
        _ = longName.count
        hello[0] = MessageType.hello.rawValue
        return [
            ("truncated", false, truncated, .malformed),
            ("oversized", true, oversized, .oversized),
            ("unknown type", false, unknownType, .unknownType),
            ("bad version byte", false, badVersion, .unsupportedVersion),
            ("future protocol version", false, future, .unsupportedVersion),
            ("events before hello", false, events([record]), .outOfOrder),
            ("unknown operation id", true, undefinedOp, .unknownOperation),
            ("name over the limit", true, longName, .badName),
            ("second hello", true, hello, .outOfOrder),
        ]
    }()

    @Test func everyKindOfBadMessage_isRefusedWithItsCode_andOtherClientsKeepTheirCounts() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let good = Probe(service: "good", socketPath: daemon.socket)
        let op = good.operation("steady")
        var recorded = 0
        for (name, handshake, bytes, code) in Self.cases {
            for _ in 0..<100 { op.record(nanoseconds: 1_000) }
            recorded += 100
            let peer = try RawPeer(daemon.socket)
            if handshake {
                try peer.handshake()
                peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "fine")))
                peer.send(Self.events([Self.record]))
            }
            peer.send(bytes)
            guard case .error(let e)? = peer.receive() else {
                Issue.record("\(name): no ERROR message")
                continue
            }
            #expect(e.code == code, "\(name): got \(e)")
            #expect(peer.isClosedByPeer(), "\(name): connection left open")
            #expect(good.flush(timeout: .seconds(10)))
        }
        let stats = try daemon.stats()
        let steady = try #require(stats.operations.first { $0.service == "good" && $0.pid != nil })
        #expect(steady.calls == UInt64(recorded))
        // What the peers sent before their bad message was kept: one event per handshaking case.
        let fine = try #require(stats.operations.first { $0.operation == "fine" && $0.pid == nil })
        #expect(fine.calls == UInt64(Self.cases.filter(\.1).count))
        let status = try daemon.status()
        #expect(status.messagesRejected == UInt64(Self.cases.count))
        #expect(daemon.logText.contains("pid \(getpid())"))
    }

    @Test func randomGarbage_neverCrashesTheDaemon() throws {
        let daemon = try RunningDaemon()
        var state: UInt64 = 12345
        for i in 0..<300 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let length = Int(state >> 52) % 200
            var bytes = (0..<length).map { j in UInt8(truncatingIfNeeded: (state >> UInt64(j % 56)) &+ UInt64(j)) }
            if i % 3 == 0 && bytes.count >= 8 {  // plausible headers reach deeper checks
                bytes[0] = UInt8(1 + i % 3)
                bytes[1] = 1
                bytes[2] = 0
                bytes[3] = 0
                bytes.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init))
            }
            let peer = try RawPeer(daemon.socket)
            peer.send(bytes)
        }
        #expect(try daemon.status().pid == Int(daemon.pid))
    }
}
