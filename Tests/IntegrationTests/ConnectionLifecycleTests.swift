import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// The edges of a connection's life against the real probed: a peer that never says HELLO, a
/// client that closes with ACKs unread (Linux then resets the connection), a client too busy to
/// read what probed sends it, and what probectl sees of a client's last messages while others load probed.
@Suite(.serialized) struct ConnectionLifecycleTests {
    /// True when `fd` reaches end of stream (after whatever probed sent first) within `seconds`.
    static func closedByDaemon(_ fd: Int32, within seconds: Double) -> Bool {
        UnixSocket.setTimeouts(fd, receive: UInt64(seconds * 1e9))
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        while true {
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    @Test func clientClosingWithAcksUnread_everythingItSentIsCounted() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        // Each peer sends fast and closes without reading a single ACK: Linux resets the
        // connection, and probed sees ECONNRESET while messages the peer sent are still queued.
        let peers = 20, messages = 40, perMessage = 2_000
        let records = (0..<perMessage).map { i in EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000 + UInt64(i)) }
        let batch = WireEncoder.events(droppedTotal: 0, records: records)
        var sent: UInt64 = 0
        for _ in 0..<peers {
            let peer = try RawPeer(daemon.socket)
            try peer.handshake(service: "closer")
            #expect(peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "steady"))))
            for _ in 0..<messages where peer.send(batch) { sent += UInt64(perMessage) }
            // `peer` is released here: close(2) with the ACKs unread.
        }
        #expect(sent == UInt64(peers * messages * perMessage))
        var status = try daemon.status()
        for _ in 0..<100 where status.eventsReceived < sent || status.processes.contains(where: { $0.state == "connected" }) {
            usleep(50_000)
            status = try daemon.status()
        }
        #expect(status.eventsReceived == sent, "probed counted \(status.eventsReceived) of the \(sent) events the clients handed the kernel")
        #expect(status.processes.count == peers)
        #expect(status.processes.allSatisfy { $0.state == "exited" && $0.eventsReceived == UInt64(messages * perMessage) })
        #expect(status.messagesRejected == 0)
    }
}
