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

    @Test func silentConnections_areClosedAfterTheHelloTimeout_andLoggedWithTheirPid() throws {
        HostileClientTests.raiseDescriptorLimit(to: 4096)
        let daemon = try RunningDaemon(["--warmup", "0", "--hello-timeout", "1s"])
        let fdsBefore = HostileClientTests.settledSockets(daemon.pid)
        let start = Date()
        let silent = try RawPeer(daemon.socket)
        var idle: [Int32] = []
        for _ in 0..<200 { idle.append(try UnixSocket.connect(path: daemon.socket)) }
        defer { for fd in idle { close(fd) } }
        // A client that said HELLO at once is not affected by the deadline, however long it then waits.
        let client = try RawPeer(daemon.socket)
        try client.handshake(service: "prompt")

        // The silent peer is told why, then closed: not before the deadline, and soon after it.
        guard case .error(let e)? = silent.receive() else {
            Issue.record("no ERROR for a connection that never sent HELLO")
            return
        }
        let closedAfter = Date().timeIntervalSince(start)
        #expect(e.code == .limitExceeded)
        #expect(silent.isClosedByPeer())
        #expect(closedAfter >= 0.9 && closedAfter < 4, "closed \(closedAfter) s after connecting")
        for fd in idle { #expect(Self.closedByDaemon(fd, within: 5)) }

        client.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "steady")))
        let records = (0..<100).map { _ in EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000) }
        #expect(client.send(WireEncoder.events(droppedTotal: 0, records: records)))
        guard case .ack(let accepted)? = client.receiveAny() else {
            Issue.record("the prompt client got no ACK after the deadline passed")
            return
        }
        #expect(accepted == 100)

        // One line per silent connection, naming the pid (and uid); every descriptor given back.
        let lines = daemon.logText.split(separator: "\n").filter { $0.contains("sent neither HELLO nor a control request") }
        #expect(lines.count == 201)
        #expect(lines.allSatisfy { $0.contains("pid \(getpid()) uid \(getuid())") })
        var fdsAfter = HostileClientTests.openSockets(daemon.pid)
        for _ in 0..<100 where fdsAfter > fdsBefore + 1 { usleep(50_000); fdsAfter = HostileClientTests.openSockets(daemon.pid) }
        #expect(fdsAfter <= fdsBefore + 1, "sockets \(fdsBefore) -> \(fdsAfter): silent connections were not released")
        let status = try daemon.status()
        #expect(status.processes.first { $0.service == "prompt" }?.eventsReceived == 100)
        print("hello timeout 1s: the silent peer was closed after \(String(format: "%.2f", closedAfter)) s; sockets \(fdsBefore) -> \(fdsAfter)")
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

    @Test func thresholdForAClientWithAFullReceiveBuffer_isSentOnceItReads() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let peer = try RawPeer(daemon.socket)
        try peer.handshake(service: "busy")
        peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "predict")))
        // Fill this client's receive buffer with ACKs: one small EVENTS at a time, never reading,
        // until what is queued for it stops growing (probed's sends to it now fail: EAGAIN).
        let one = WireEncoder.events(droppedTotal: 0, records: [EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000)])
        var queued = 0, unchanged = 0, sent: UInt64 = 0
        while unchanged < 40 && sent < 20_000 {
            #expect(peer.send(one))
            sent += 1
            usleep(1_000)
            let now = UnixSocket.queuedBytes(peer.fd)
            if now > queued { queued = now; unchanged = 0 } else { unchanged += 1 }
        }
        #expect(sent < 20_000, "the client's receive buffer never filled")
        let set = try daemon.probectl(["threshold", "predict", "50ms"])
        #expect(set.status == 0, "\(set.stderr)")

        // Now the client reads everything; the THRESHOLD probed could not send must still come.
        UnixSocket.setTimeouts(peer.fd, receive: 5_000_000_000)
        var threshold: UInt64? = nil
        var acks = 0
        while threshold == nil, let m = peer.receiveAny() {
            switch m {
            case .threshold(let id, let ns) where id == 0: threshold = ns
            case .ack: acks += 1
            default: break
            }
        }
        #expect(threshold == 50_000_000, "no THRESHOLD after the client read its \(acks) queued ACKs")
        // And the events behind it were all counted.
        let status = try daemon.status()
        #expect(status.processes.first { $0.service == "busy" }?.eventsReceived == sent)
        print("full receive buffer: \(queued) bytes queued (\(sent) EVENTS sent); THRESHOLD arrived after \(acks) ACKs")
    }

    @Test func statusUnderLoad_includesEverythingAClientQueuedBeforeTheRequest() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        // Two clients keep probed's sockets full while the raw peer's last messages wait in its queue.
        let load = try (0..<2).map { _ in try ResilienceTests.startLoad(socket: daemon.socket, seconds: 3, rate: 1_000_000, buffer: 1 << 16) }
        usleep(500_000)
        let peer = try RawPeer(daemon.socket)
        try peer.handshake(service: "queued")
        peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "steady")))
        let records = (0..<2_000).map { _ in EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000) }
        for _ in 0..<50 { #expect(peer.send(WireEncoder.events(droppedTotal: 0, records: records))) }
        // No waiting for ACKs: status reads what was queued when it asked, and only that.
        let row = try daemon.status().processes.first { $0.service == "queued" }
        #expect(row?.eventsReceived == 100_000)
        for (p, out) in load {
            let r = try ResilienceTests.finish(p, out)
            #expect(r.delivered + r.dropped == r.recorded)
        }
    }
}
