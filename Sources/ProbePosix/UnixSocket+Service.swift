#if canImport(Glibc)
import Glibc
#endif
import CProbeSys

/// What running as a system service needs from sockets: a peer's supplementary groups, and a
/// check that a descriptor handed over by systemd (socket activation) is what probed expects.
extension UnixSocket {
    /// The peer's supplementary groups as the kernel recorded them at connect (SO_PEERGROUPS),
    /// or nil where the kernel does not support it (before Linux 4.13).
    public static func peerGroups(_ fd: Int32) -> [UInt32]? {
        var gids = [UInt32](repeating: 0, count: 1024)
        let n = cprobe_peer_groups(fd, &gids, Int32(gids.count))
        guard n >= 0, Int(n) <= gids.count else { return nil }
        return Array(gids[0..<Int(n)])
    }

    /// The supplementary groups of process `pid` from the `Groups:` line of `/proc/<pid>/status`;
    /// a fallback for kernels without SO_PEERGROUPS (it races with the pid being reused).
    public static func processGroups(pid: Int32) -> [UInt32]? {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 16384)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return nil }
        let text = String(decoding: bytes[0..<n], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("Groups:") {
            return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
        }
        return nil
    }

    /// Describes a descriptor: its address family, socket type, whether it listens, and the path it
    /// is bound to (nil for an unbound or abstract socket). nil when `fd` is not a socket.
    public static func describe(_ fd: Int32) -> (domain: Int32, type: Int32, listening: Bool, path: String?)? {
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
        }
        guard let type = option(SO_TYPE), let domain = option(SO_DOMAIN), let listening = option(SO_ACCEPTCONN) else { return nil }
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var path: String? = nil
        let offset = MemoryLayout<sa_family_t>.size
        if rc == 0, domain == AF_UNIX, Int(length) > offset {
            path = withUnsafeBytes(of: address.sun_path) { raw in
                let bytes = Array(raw.prefix(Int(length) - offset))
                guard let first = bytes.first, first != 0 else { return nil }  // abstract or unnamed
                return String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        return (domain, type, listening != 0, path)
    }
}
