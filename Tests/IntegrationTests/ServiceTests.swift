#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix
import Testing

/// probed as a system service: the notify protocol, socket activation, SIGHUP, the units.
@Suite struct ServiceTests {
    @Test func notifyProtocol_readyStatusWatchdog_thenStoppingOnSigterm() throws {
        let dir = TemporaryDirectory()
        let systemd = try NotifyListener(path: dir.file("notify.sock"))
        let daemon = try SpawnedDaemon(["--socket", dir.file("probed.sock")],
                                       environment: ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000", "INVOCATION_ID": "test"],
                                       log: dir.file("probed.log"))
        let running = systemd.collect { m in
            m.contains { $0.contains("READY=1") } && m.contains { $0.contains("WATCHDOG=1") }
                && m.contains { $0.contains("STATUS=") && $0.contains("clients connected") }
        }
        print("notify messages while running: \(running.prefix(6))")
        let ready = try #require(running.first { $0.contains("READY=1") })
        #expect(ready.contains("MAINPID=\(daemon.pid)"))
        #expect(UnixSocket.isLive(path: dir.file("probed.sock")), "READY=1 is sent once clients are accepted")
        #expect(running.contains { $0.hasPrefix("WATCHDOG=1") })
        #expect(running.contains { $0.contains("STATUS=0 clients connected, ") && $0.contains("events/s") })
        daemon.signal(SIGTERM)
        let stopping = systemd.collect { m in m.contains { $0.contains("STOPPING=1") } }
        #expect(stopping.contains { $0.contains("STOPPING=1") })
        #expect(daemon.waitForExit() == 0)
        // Under systemd ($INVOCATION_ID) every log line carries its syslog priority for journald.
        let lines = daemon.logText.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("<") }, "\(daemon.logText)")
        #expect(daemon.logText.contains("<6>listening on"))
    }

    @Test func socketActivation_servesTheInheritedSocket_andLeavesTheFileToSystemd() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("activated.sock")
        let listening = try UnixSocket.listen(path: path)
        defer { close(listening) }
        let daemon = try SpawnedDaemon(["--log-level", "debug"], listenFD: listening, log: dir.file("probed.log"))
        #expect(daemon.waitForLog("(from systemd)"), "\(daemon.logText)")
        let o = try run(Products.path("probectl"), ["--socket", path, "status", "--json"])
        #expect(o.status == 0, "\(o.stderr)")
        let status = try JSONDecoder.snakeCase.decode(StatusReport.self, from: Data(o.stdout.utf8))
        #expect(status.socket == path && status.pid == Int(daemon.pid))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(SocketPath.isSocket(path), "the socket file belongs to the socket unit: probed must not remove it")
    }

    /// systemd's own activator binds the socket and starts probed on the first connection, with
    /// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES as systemd sets them for probed.socket: that
    /// first client (probectl, started before probed) is answered, a real client is served, and
    /// probed leaves the socket file to the socket's owner when it stops.
    @Test func systemdSocketActivate_startsProbedOnTheFirstConnection_whichIsServed() throws {
        let activator = try #require(["/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                     "systemd-socket-activate is missing: apt-get install systemd (Tools/test.sh does)")
        let dir = TemporaryDirectory()
        let path = dir.file("probed.sock")
        let daemon = try SpawnedDaemon(["--log-level", "debug"], environment: ["INVOCATION_ID": "test"],
                                       launcher: [activator, "--seqpacket", "--listen=" + path], log: dir.file("probed.log"))
        #expect(daemon.waitForLog("Listening on \(path)"), "\(daemon.logText)")
        #expect(!daemon.logText.contains("listening on"), "probed starts on the first connection, not before")

        let o = try run(Products.path("probectl"), ["--socket", path, "status", "--json"])
        #expect(o.status == 0, "\(o.stderr)\n\(daemon.logText)")
        let status = try JSONDecoder.snakeCase.decode(StatusReport.self, from: Data(o.stdout.utf8))
        #expect(status.socket == path && status.pid == Int(daemon.pid), "the activator execs probed: same pid")
        #expect(daemon.logText.contains("(from systemd)"), "\(daemon.logText)")

        let durations = dir.file("durations")
        try (1...20).map { "\($0 * 1000)" }.joined(separator: "\n").write(toFile: durations, atomically: true, encoding: .utf8)
        let client = try run(Products.path("probe-fixture"), ["--socket", path, "--service", "activated", "--operation", "predict", "--durations", durations])
        #expect(client.status == 0 && client.stdout.contains("recorded 20 dropped 0 flushed true"), "\(client.stdout)\(client.stderr)")
        let stats = try run(Products.path("probectl"), ["--socket", path, "stats", "--json"])
        let row = try JSONDecoder.snakeCase.decode(StatsReport.self, from: Data(stats.stdout.utf8)).operations.first { $0.service == "activated" && $0.pid == nil }
        #expect(row?.calls == 20)

        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0, "\(daemon.logText)")
        #expect(SocketPath.isSocket(path), "the socket file belongs to the socket unit: probed must not remove it")
    }

    @Test func socketActivation_withAStreamSocket_refusesToStartNamingTheFix() throws {
        let dir = TemporaryDirectory()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(dir.file("stream.sock").utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        listen(fd, 4)
        let daemon = try SpawnedDaemon([], listenFD: fd, log: dir.file("probed.log"))
        #expect(daemon.waitForExit() == 1)
        #expect(daemon.logText.contains("not a Unix SOCK_SEQPACKET socket") && daemon.logText.contains("ListenSequentialPacket="), "\(daemon.logText)")
    }

    @Test func sighup_rereadsTheConfigFile_appliesLogLevel_andReportsWhatNeedsARestart() throws {
        let dir = TemporaryDirectory()
        let config = dir.file("probed.conf")
        try "log-level = info\nwarmup = 10\n".write(toFile: config, atomically: true, encoding: .utf8)
        let socket = dir.file("probed.sock")
        let daemon = try SpawnedDaemon(["--socket", socket, "--config", config], log: dir.file("probed.log"))
        #expect(daemon.waitForLog("listening on"))
        #expect(daemon.logText.contains("settings from \(config)"))

        try "log-level = debug\nwarmup = 3\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("log-level changed from info to debug (\(config)); applied"), "\(daemon.logText)")
        #expect(daemon.logText.contains("warmup changed from 10 to 3 (\(config)); takes effect after a restart"))
        // Debug lines now appear: a client's connection is logged at debug.
        let peer = try RawPeer(socket)
        try peer.handshake(service: "after-reload")
        #expect(daemon.waitForLog("client connected: service after-reload"))

        try "log-level = loud\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("configuration not reloaded, keeping the settings in effect: \(config):1: log-level: \"loud\""), "\(daemon.logText)")
        #expect(UnixSocket.isLive(path: socket), "a bad file on reload does not stop probed")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func badConfigFile_refusedAtStart_withFileLineAndReason() throws {
        let dir = TemporaryDirectory()
        let config = dir.file("probed.conf")
        try "# comment\nwarmup = 5\nsample-interval = 5h\n".write(toFile: config, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probed"), ["--config", config, "--socket", dir.file("p.sock")])
        #expect(o.status == 2)
        #expect(o.stderr.contains("\(config):3: sample-interval: \"5h\" is not a duration"), "\(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("p.sock")))
        let missing = try run(Products.path("probed"), ["--config", dir.file("absent.conf")])
        #expect(missing.status == 2 && missing.stderr.contains("absent.conf: the configuration file does not exist"))
    }

    @Test func checkConfig_printsEffectiveSettings_flagsOverridingTheFile() throws {
        let dir = TemporaryDirectory()
        let config = dir.file("probed.conf")
        try "warmup = 5\nlog-level = debug\nallow-group = nogroup\n".write(toFile: config, atomically: true, encoding: .utf8)
        let o = try run(Products.path("probed"), ["--config", config, "--check-config", "--warmup", "7"])
        print(o.stdout)
        #expect(o.status == 0)
        #expect(o.stdout.contains("warmup = 7") && o.stdout.contains("# command line"))
        #expect(o.stdout.contains("log-level = debug") && o.stdout.contains("# \(config):2"))
        #expect(o.stdout.contains("allow-group = nogroup"))
        #expect(o.stdout.contains("leak-window = 5m") && o.stdout.contains("# default"))
    }

    /// install.sh into a temporary prefix, then `systemd-analyze verify` on the units it installed
    /// (ExecStart= rewritten to the installed binary, so the check holds on a fresh machine).
    @Test func installScript_installsBinariesAndUnits_thatSystemdAnalyzeVerifies() throws {
        let dir = TemporaryDirectory()
        let install = Repository.root + "/Tools/install.sh"
        let dry = try run("/bin/bash", [install, "--from", Products.directory.path, "--prefix", dir.file("usr"),
                                        "--unit-dir", dir.file("units"), "--config", dir.file("etc/probed.conf"), "--no-start", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("usr")), "--dry-run changes nothing")
        for _ in 0..<2 {  // idempotent: a second run succeeds and changes nothing more
            let o = try run("/bin/bash", [install, "--from", Products.directory.path, "--prefix", dir.file("usr"),
                                          "--unit-dir", dir.file("units"), "--config", dir.file("etc/probed.conf"), "--group", "nogroup", "--no-start"])
            #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
        }
        #expect(FileManager.default.isExecutableFile(atPath: dir.file("usr/bin/probed")))
        #expect(FileManager.default.isExecutableFile(atPath: dir.file("usr/bin/probectl")))
        let unit = try String(contentsOfFile: dir.file("units/probed.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=\(dir.file("usr/bin/probed")) --config \(dir.file("etc/probed.conf"))"))
        let conf = try String(contentsOfFile: dir.file("etc/probed.conf"), encoding: .utf8)
        #expect(conf.components(separatedBy: "\nallow-group = nogroup").count == 2, "one allow-group line however often it runs")
        let check = try run(dir.file("usr/bin/probed"), ["--config", dir.file("etc/probed.conf"), "--check-config"])
        #expect(check.status == 0 && check.stdout.contains("allow-group = nogroup"), "\(check.stderr)")

        let verify = try run(try systemdAnalyze(), ["verify", dir.file("units/probed.service"), dir.file("units/probed.socket")])
        print("systemd-analyze verify: status \(verify.status) \(verify.stdout)\(verify.stderr)")
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
    }

    /// The repository's units exactly as written (ExecStart=/usr/local/bin/probed) pass
    /// `systemd-analyze verify` once probed is really at that path: here in a tree staged with
    /// `install.sh --root`, checked with `systemd-analyze verify --root`. Without the binary the
    /// same check fails, so it is the install that makes it pass, on this machine as on a fresh one.
    @Test func stagedInstall_repositoryUnitsAsWritten_passSystemdAnalyzeVerifyUnderRoot() throws {
        let dir = TemporaryDirectory()
        let stage = dir.file("stage")
        let install = Repository.root + "/Tools/install.sh"
        let o = try run("/bin/bash", [install, "--from", Products.directory.path, "--root", stage, "--group", "nogroup"])
        #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
        #expect(o.stdout.contains("create the group on the target") && !o.stdout.contains("+ groupadd"), "--root changes nothing outside the tree")
        #expect(!o.stdout.contains("systemctl"), "--root implies --no-start")
        // Staged at the target paths; the units name those paths, not the staging tree.
        #expect(FileManager.default.contentsEqual(atPath: stage + "/usr/local/bin/probed", andPath: Products.path("probed")))
        #expect(FileManager.default.isExecutableFile(atPath: stage + "/usr/local/bin/probectl"))
        for unit in ["probed.service", "probed.socket"] {
            #expect(FileManager.default.contentsEqual(atPath: stage + "/etc/systemd/system/" + unit, andPath: Repository.root + "/Tools/" + unit),
                    "\(unit) is installed unchanged with the default prefix and configuration")
        }
        let dropIn = try String(contentsOfFile: stage + "/etc/systemd/system/probed.socket.d/group.conf", encoding: .utf8)
        #expect(dropIn == "[Socket]\nSocketGroup=nogroup\nSocketMode=0660\n")
        let conf = try String(contentsOfFile: stage + "/etc/probed.conf", encoding: .utf8)
        #expect(conf.hasSuffix("\nallow-group = nogroup\n"))

        // `verify --root` resolves everything inside the tree, as on the target: the units every
        // unit depends on (sysinit.target, …) and /bin/kill (ExecReload=) come from this machine's
        // systemd, as they would come from the target's.
        let systemUnits = try #require(["/usr/lib/systemd/system", "/lib/systemd/system"].first { FileManager.default.fileExists(atPath: $0 + "/sysinit.target") })
        try FileManager.default.createDirectory(atPath: stage + "/usr/lib/systemd", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: stage + "/bin", withIntermediateDirectories: true)
        #expect(try run("/bin/cp", ["-a", systemUnits, stage + "/usr/lib/systemd/system"]).status == 0)
        try #require(FileManager.default.isExecutableFile(atPath: "/bin/kill"), "/bin/kill is missing: apt-get install procps (Tools/test.sh does)")
        #expect(try run("/bin/cp", ["-L", "/bin/kill", stage + "/bin/kill"]).status == 0)
        let units = ["/etc/systemd/system/probed.service", "/etc/systemd/system/probed.socket"]
        let verify = try run(try systemdAnalyze(), ["verify", "--root=" + stage] + units)
        print("systemd-analyze verify --root: status \(verify.status) \(verify.stdout)\(verify.stderr)")
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")

        try FileManager.default.removeItem(atPath: stage + "/usr/local/bin/probed")
        let without = try run(try systemdAnalyze(), ["verify", "--root=" + stage] + units)
        #expect(without.status != 0 && without.stderr.contains("Command /usr/local/bin/probed is not executable"), "\(without.stderr)")
    }

    func systemdAnalyze() throws -> String {
        try #require(["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) },
                     "systemd-analyze is missing: apt-get install systemd (Tools/test.sh does)")
    }
}
