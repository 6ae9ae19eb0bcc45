#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbePosix

/// The repository root, for Tools/ (install.sh, the units).
enum Repository {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}

/// A probed started with `posix_spawn`, so that a test controls its environment and descriptors
/// exactly: an inherited listening socket as fd 3 (socket activation), NOTIFY_SOCKET, and so on.
/// Killed (SIGKILL) at deinit if still running.
final class SpawnedDaemon: @unchecked Sendable {
    let pid: pid_t
    let log: String
    private var exitStatus: Int32?

    /// Runs `probed arguments…` through `bash`, which first closes every descriptor above 3 (other
    /// tests' pipes must not leak into the daemon), then execs probed (same pid). With `listenFD`,
    /// the descriptor becomes fd 3 and bash sets `LISTEN_PID` to its own pid: what systemd does.
    /// With `launcher`, bash execs `launcher… probed arguments…` instead (a launcher that execs
    /// probed in turn, such as systemd-socket-activate, keeps the pid).
    init(_ arguments: [String], environment extra: [String: String] = [:], listenFD: Int32? = nil, launcher: [String] = [],
         log: String) throws {
        self.log = log
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "INVOCATION_ID", "JOURNAL_STREAM", "PROBED_SOCKET"] {
            environment[key] = nil
        }
        for (k, v) in extra { environment[k] = v }
        let executable = "/bin/bash"
        var script = "for f in /proc/$$/fd/*; do n=${f##*/}; [ \"$n\" -gt \(listenFD == nil ? 2 : 3) ] 2>/dev/null && eval \"exec $n>&-\"; done; "
        if listenFD != nil {
            environment["LISTEN_FDS"] = "1"
            script += "LISTEN_PID=$$; export LISTEN_PID; "
        }
        script += "exec \"$0\" \"$@\""
        let argv = ["/bin/bash", "-c", script] + launcher + [Products.path("probed")] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var high: Int32 = -1
        if let fd = listenFD {
            high = fcntl(fd, F_DUPFD_CLOEXEC, 64)  // never 3 itself: dup2(3, 3) would keep CLOEXEC
            posix_spawn_file_actions_adddup2(&actions, high, 3)
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
            if high >= 0 { close(high) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, cArgs, cEnv)
        guard rc == 0 else { throw Failure("posix_spawn \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Waits (up to `seconds`) for the daemon to exit; its exit status, or nil while it runs.
    func waitForExit(seconds: Double = 15) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return exitStatus
            }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    func signal(_ s: Int32) { kill(pid, s) }

    /// Polls the log until `text` appears (up to `seconds`); true when it did.
    func waitForLog(_ text: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if logText.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    deinit {
        if waitForExit(seconds: 0) == nil {
            kill(pid, SIGKILL)
            _ = waitForExit(seconds: 10)
        }
    }
}

/// A datagram socket standing in for systemd's notify socket.
final class NotifyListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else { throw Failure("bind \(path): \(SystemError("bind"))") }
        UnixSocket.setTimeouts(fd, receive: 500_000_000)
    }

    deinit { close(fd) }

    /// The next datagram, nil after a 0.5 s wait.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Collects datagrams until `done` says so (or `seconds` pass); returns all of them.
    func collect(seconds: Double = 20, until done: ([String]) -> Bool) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !done(messages) {
            if let m = receive() { messages.append(m) }
        }
        return messages
    }
}

/// Runs `arguments` as uid/gid 65534 (nobody/nogroup) with `groups` as its supplementary groups.
func runAsNobody(_ arguments: [String], groups: [UInt32] = []) throws -> Outcome {
    var setpriv = ["--reuid=65534", "--regid=65534"]
    setpriv += groups.isEmpty ? ["--clear-groups"] : ["--groups=" + groups.map(String.init).joined(separator: ",")]
    return try run("/usr/bin/setpriv", setpriv + arguments)
}
