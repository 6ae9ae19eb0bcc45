#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix
import Testing

/// Who may connect, checked from the kernel's SO_PEERCRED: a client under uid 65534 (nobody),
/// started with setpriv. Needs root (to run as another user): the CI runs as root.
@Suite(.enabled(if: getuid() == 0, "needs root to run a client under another uid"))
struct AccessPolicyTests {
    /// A directory others can traverse, with a durations file they can read.
    static func workspace() throws -> (TemporaryDirectory, String) {
        let dir = TemporaryDirectory()
        chmod(dir.path, 0o711)
        let durations = dir.file("durations.txt")
        try "1000\n2000\n3000\n".write(toFile: durations, atomically: true, encoding: .utf8)
        chmod(durations, 0o644)
        return (dir, durations)
    }

    func fixture(_ daemon: RunningDaemon, service: String, durations: String) -> [String] {
        [Products.path("probe-fixture"), "--socket", daemon.socket, "--service", service, "--operation", "op", "--durations", durations]
    }

    @Test func clientUnderAnotherUid_isRefusedAndLogged_whileTheDaemonsOwnUserIsServed() throws {
        let (dir, durations) = try Self.workspace()
        let daemon = try RunningDaemon(socket: dir.file("probed.sock"))
        var st = stat()
        stat(daemon.socket, &st)
        #expect(st.st_mode & 0o777 == 0o600, "without --allow-group only probed's user (and root) may open the socket")
        // Widen the file as a careless operator might: the kernel-checked credentials still refuse.
        chmod(daemon.socket, 0o666)
        let refused = try runAsNobody(fixture(daemon, service: "intruder", durations: durations))
        print("refused client: status \(refused.status) \(refused.stdout)")
        #expect(refused.stdout.contains("recorded 3"), "the client itself carries on: it never crashes its service")
        // Logged when probed accepts the connection, which a loaded probed may do after the client gave up.
        var line: Substring? = nil
        for _ in 0..<200 where line == nil {
            line = daemon.logText.split(separator: "\n").first { $0.contains("refused connection") }
            if line == nil { usleep(50_000) }
        }
        print("daemon log: \(line ?? "none")")
        #expect(line?.contains("uid 65534") == true && line?.contains("from pid ") == true)
        let ownUser = try run(fixture(daemon, service: "owner", durations: durations)[0], Array(fixture(daemon, service: "owner", durations: durations).dropFirst()))
        #expect(ownUser.status == 0)
        let stats = try daemon.stats()
        #expect(stats.operations.contains { $0.service == "owner" && $0.calls == 3 })
        #expect(!stats.operations.contains { $0.service == "intruder" })
    }

    /// The socket file's mode stops an outsider before probed sees it: probectl says so and what
    /// to do, rather than suggesting that probed is not running.
    @Test func probectlKeptOutByTheSocketFilesMode_namesTheGroupToJoin() throws {
        let (dir, _) = try Self.workspace()
        let daemon = try RunningDaemon(["--allow-group", "nogroup"], socket: dir.file("probed.sock"))
        let o = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=100", "--clear-groups", Products.path("probectl"), "--socket", daemon.socket, "status"])
        #expect(o.status == 1)
        #expect(o.stderr.contains("Permission denied") && o.stderr.contains("members of group nogroup (mode 660)")
                && o.stderr.contains("usermod -aG nogroup") && !o.stderr.contains("Start it with"), "\(o.stderr)")
        let owner = try RunningDaemon(socket: dir.file("owner.sock"))
        let alone = try runAsNobody([Products.path("probectl"), "--socket", owner.socket, "status"])
        #expect(alone.status == 1 && alone.stderr.contains("(mode 600) admits only probed's user and root"), "\(alone.stderr)")
    }

    @Test func allowGroup_admitsPrimaryAndSupplementaryMembers_andSetsTheSocketFilesGroup() throws {
        let (dir, durations) = try Self.workspace()
        let primary = try RunningDaemon(["--allow-group", "nogroup"], socket: dir.file("primary.sock"))
        var st = stat()
        stat(primary.socket, &st)
        #expect(st.st_mode & 0o777 == 0o660 && st.st_gid == 65534)
        let o = try runAsNobody(fixture(primary, service: "member", durations: durations))
        #expect(o.status == 0 && o.stdout.contains("flushed true"), "\(o.stdout)\(o.stderr)")
        let status = try primary.status()
        #expect(status.processes.contains { $0.service == "member" && $0.uid == 65534 && $0.eventsReceived == 3 })
        #expect(!primary.logText.contains("refused connection"))

        // A supplementary group counts too (from SO_PEERGROUPS): nobody with `users` (gid 100) added.
        guard let users = getgrnam("users") else { return }
        let gid = users.pointee.gr_gid
        let secondary = try RunningDaemon(["--allow-group", "users"], socket: dir.file("secondary.sock"))
        let member = try runAsNobody(fixture(secondary, service: "supplementary", durations: durations), groups: [gid])
        #expect(member.status == 0 && member.stdout.contains("flushed true"), "\(member.stdout)\(member.stderr)")
        #expect(try secondary.stats().operations.contains { $0.service == "supplementary" && $0.calls == 3 })
    }

    @Test func readersMayRead_butOnlyTheDaemonsUserRootOrControlGroupMayReset() throws {
        let (dir, durations) = try Self.workspace()
        let daemon = try RunningDaemon(["--allow-group", "nogroup"], socket: dir.file("probed.sock"))
        _ = try run(Products.path("probe-fixture"), Array(fixture(daemon, service: "svc", durations: durations).dropFirst()))
        let read = try runAsNobody([Products.path("probectl"), "--socket", daemon.socket, "stats"])
        #expect(read.status == 0 && read.stdout.contains("svc"), "\(read.stderr)")
        let reset = try runAsNobody([Products.path("probectl"), "--socket", daemon.socket, "reset"])
        #expect(reset.status == 1 && reset.stderr.contains("may read but not change"), "\(reset.stderr)")
        #expect(try daemon.stats().operations.contains { $0.service == "svc" && $0.calls == 3 })

        let byOwner = try daemon.probectl(["reset"])
        #expect(byOwner.status == 0 && byOwner.stdout.contains("statistics cleared: 1 series"), "\(byOwner.stdout)\(byOwner.stderr)")
        #expect(try daemon.stats().operations.isEmpty, "the fixture has exited: its series are gone")

        let delegated = try RunningDaemon(["--allow-group", "nogroup", "--control-group", "nogroup"], socket: dir.file("delegated.sock"))
        let allowed = try runAsNobody([Products.path("probectl"), "--socket", delegated.socket, "reset"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }
}
