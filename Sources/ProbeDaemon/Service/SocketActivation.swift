#if canImport(Glibc)
import Glibc
#endif
import ProbePosix

/// Socket activation: systemd (probed.socket) binds the socket, then starts probed with it as
/// descriptor 3 and `LISTEN_FDS=1`, `LISTEN_PID=<probed's pid>`. probed then neither binds nor
/// removes the socket file: it belongs to the socket unit, which keeps it across restarts.
enum SocketActivation {
    static let firstDescriptor: Int32 = 3

    /// The listening descriptor systemd passed, checked to be a listening SOCK_SEQPACKET Unix
    /// socket, and the path it is bound to; nil when probed was not socket-activated.
    static func inherited(environment: (String) -> String? = SocketPath.environment) throws(Daemon.StartError) -> (fd: Int32, path: String)? {
        guard let pidText = environment("LISTEN_PID"), let countText = environment("LISTEN_FDS") else { return nil }
        // Variables meant for another process (our parent, say) are not ours to act on.
        guard Int32(pidText) == getpid() else { return nil }
        defer {
            // Not inherited by anything probed might start.
            unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES")
        }
        guard let count = Int(countText), count >= 1 else {
            throw .init(description: "LISTEN_FDS=\(countText) is not a count of sockets; check probed.socket")
        }
        guard count == 1 else {
            throw .init(description: "systemd passed \(count) sockets (LISTEN_FDS); probed takes exactly one: give probed.socket a single ListenSequentialPacket=")
        }
        let fd = firstDescriptor
        guard let info = UnixSocket.describe(fd) else {
            throw .init(description: "descriptor \(fd) from systemd (LISTEN_FDS) is not a socket")
        }
        guard info.domain == AF_UNIX, info.type == Int32(SOCK_SEQPACKET.rawValue) else {
            throw .init(description: "the socket from systemd is not a Unix SOCK_SEQPACKET socket; use ListenSequentialPacket= in probed.socket")
        }
        guard info.listening else {
            throw .init(description: "the socket from systemd is not listening; use Accept=no in probed.socket")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return (fd, info.path ?? "(socket from systemd, fd \(fd))")
    }
}
