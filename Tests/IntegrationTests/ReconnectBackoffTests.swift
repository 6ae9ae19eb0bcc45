import Foundation
import ProbeClient
import ProbePosix
import ProbeWire
import Testing

/// A peer on the socket that answers every HELLO with a valid WELCOME and closes the connection
/// at once (a broken daemon, a proxy): it records when each connection arrived.
final class WelcomeThenClose: @unchecked Sendable {
    let path: String
    let fd: Int32
    let arrivals = Locked<[Date]>([])
    let stop = Locked(false)
    let done = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        fd = try UnixSocket.listen(path: path)
        Thread.detachNewThread { [self] in serve() }
    }

    func serve() {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        while !stop.get() {
            let c = UnixSocket.accept(fd)
            guard c >= 0 else { usleep(2_000); continue }
            arrivals.update { $0.append(Date()) }
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK)
            UnixSocket.setTimeouts(c, receive: 1_000_000_000)
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(c, into: $0) }
            if n > 0, case .hello? = try? WireDecoder.decode(Array(buffer[0..<n])) {
                UnixSocket.send(c, WireEncoder.welcome(Welcome(features: .all)))
            }
            close(c)
        }
        close(fd)
        done.signal()
    }

    func finish() {
        stop.set(true)
        done.wait()
    }
}

/// Issue 17 item 5: the client's reconnect backoff resets only after a connection stayed up.
@Suite struct ReconnectBackoffTests {
    @Test func aPeerThatWelcomesThenCloses_isRetriedWithAGrowingDelay_notEvery150ms() throws {
        let dir = TemporaryDirectory()
        let peer = try WelcomeThenClose(path: dir.file("fake.sock"))
        let probe = Probe(service: "backoff", socketPath: peer.path)
        probe.record("op", nanoseconds: 1_000)  // something to deliver: the client keeps trying
        Thread.sleep(forTimeInterval: 4)
        peer.finish()
        withExtendedLifetime(probe) {}
        let arrivals = peer.arrivals.get()
        let gaps = zip(arrivals.dropFirst(), arrivals).map { $0.timeIntervalSince($1) }
        print("reconnects to a peer that welcomes and closes, over 4 s: \(arrivals.count); gaps (s): \(gaps.map { String(format: "%.2f", $0) })")
        // 50 ms doubling to 2 s (with up to 25 % jitter) fits at most 7 connections in 4 s; resetting
        // the delay on every WELCOME made it ~60. A loaded machine only makes the client slower.
        #expect(arrivals.count >= 3 && arrivals.count <= 8)
        // The delay grows: each gap at least the backoff's (less scheduling slack), up to 2 s.
        for (i, gap) in gaps.enumerated() { #expect(gap >= min(0.05 * pow(2, Double(i)), 2.0) * 0.9, "gap \(i): \(gap) s") }
    }
}

/// A peer that welcomes with chosen `features` and keeps the connection, acknowledging events
/// and recording every DEFINE it receives.
final class RecordingPeer: @unchecked Sendable {
    let fd: Int32
    let defines = Locked<[Definition]>([])
    let stop = Locked(false)
    let done = DispatchSemaphore(value: 0)

    init(path: String, features: DaemonFeatures) throws {
        fd = try UnixSocket.listen(path: path)
        Thread.detachNewThread { [self] in serve(features) }
    }

    func serve(_ features: DaemonFeatures) {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        var c: Int32 = -1
        while c < 0 && !stop.get() {
            c = UnixSocket.accept(fd)
            if c < 0 { usleep(2_000) }
        }
        var accepted: UInt64 = 0
        while !stop.get() && c >= 0 {
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(c, into: $0, flags: Int32(MSG_DONTWAIT)) }
            if n == 0 { break }
            guard n > 0 else { usleep(2_000); continue }
            switch try? WireDecoder.decode(Array(buffer[0..<n])) {
            case .hello?: UnixSocket.send(c, WireEncoder.welcome(Welcome(features: features)))
            case .define(let d)?: defines.update { $0.append(d) }
            case .events(_, let records)?:
                accepted += UInt64(records.count)
                UnixSocket.send(c, WireEncoder.ack(eventsAccepted: accepted))
            default: break
            }
        }
        if c >= 0 { close(c) }
        close(fd)
        done.signal()
    }

    func finish() {
        stop.set(true)
        done.wait()
    }
}

/// Issue 17 items 6 and 8: what the Swift client declares reaches the daemon in DEFINE flags,
/// again when it changes, and never to a daemon that does not list the feature.
@Suite struct OperationFlagsClientTests {
    @Test func declarations_travelInDefine_andAgainWhenTheyChange() throws {
        let dir = TemporaryDirectory()
        let peer = try RecordingPeer(path: dir.file("fake.sock"), features: .all)
        let probe = Probe(service: "flags", socketPath: dir.file("fake.sock"))
        let predict = probe.operation("predict", warmupPerItems: true)
        predict.record(nanoseconds: 1_000, items: 8)
        #expect(probe.flush(timeout: .seconds(10)))
        _ = probe.operation("tokenize", deviceWork: false)
        probe.record("tokenize", nanoseconds: 1_000)
        _ = probe.operation("predict", deviceWork: false)  // a second declaration for predict: DEFINEd again
        probe.record("predict", nanoseconds: 1_000)
        #expect(probe.flush(timeout: .seconds(10)))
        peer.finish()
        withExtendedLifetime(probe) {}
        let defines = peer.defines.get().filter { $0.kind == .operation }
        let predicts = defines.filter { $0.name == "predict" }, tokenizes = defines.filter { $0.name == "tokenize" }
        #expect(predicts.map(\.flags) == [.warmupPerItems, [.warmupPerItems, .noDeviceWork]], "\(defines)")
        #expect(Set(predicts.map(\.id)).count == 1 && tokenizes.map(\.flags) == [.noDeviceWork], "\(defines)")
    }

    @Test func aDaemonWithoutTheFeature_getsFlagsZero() throws {
        let dir = TemporaryDirectory()
        let peer = try RecordingPeer(path: dir.file("fake.sock"), features: [.memoryDeltas, .callDetails])
        let probe = Probe(service: "flags", socketPath: dir.file("fake.sock"))
        probe.operation("predict", warmupPerItems: true).record(nanoseconds: 1_000)
        _ = probe.operation("predict", deviceWork: false)
        probe.record("predict", nanoseconds: 1_000)
        #expect(probe.flush(timeout: .seconds(10)))
        peer.finish()
        withExtendedLifetime(probe) {}
        #expect(peer.defines.get().map(\.flags) == [[]])
    }
}
