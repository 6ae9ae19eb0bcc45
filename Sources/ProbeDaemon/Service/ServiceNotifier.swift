#if canImport(Glibc)
import Glibc
#endif
import ProbePosix

/// systemd's notify protocol, spoken directly (no libsystemd): each message is one datagram of
/// `KEY=value` lines sent to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` — a path, or an
/// abstract name written with a leading `@`. Without `$NOTIFY_SOCKET` every call does nothing.
public struct ServiceNotifier: Sendable {
    /// The socket address, nil when not run by systemd as `Type=notify`.
    let address: [UInt8]?
    /// Half of `$WATCHDOG_USEC` (systemd's advice), when the watchdog is on for this process.
    public let watchdogInterval: Duration?

    public init(environment: (String) -> String? = SocketPath.environment, pid: Int32 = getpid()) {
        if let socket = environment("NOTIFY_SOCKET"), socket.hasPrefix("/") || socket.hasPrefix("@") {
            var bytes = Array(socket.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
            address = bytes.count < 108 ? bytes : nil
        } else {
            address = nil
        }
        // WATCHDOG_PID, when set, names the process the watchdog is meant for.
        let forUs = environment("WATCHDOG_PID").map { Int32($0) == pid } ?? true
        if forUs, let text = environment("WATCHDOG_USEC"), let usec = UInt64(text), usec > 0 {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    public var isEnabled: Bool { address != nil }

    /// Sends `state` (e.g. "READY=1\nSTATUS=…"). Returns false when there is nobody to tell or the
    /// send failed; the daemon carries on either way.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let path = address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(state.utf8)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent == bytes.count
    }
}
