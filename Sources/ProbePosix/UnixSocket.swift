#if canImport(Glibc)
import Glibc
#endif
import CProbeSys

/// An error from a system call: the call's name and `errno`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var errno: Int32
    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }
    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The kernel's word on who is at the other end of a Unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
}

/// Thin wrappers over the socket calls probe uses. Each names the C function it calls.
public enum UnixSocket {
    /// Fills a `sockaddr_un` for `path`; nil when the path does not fit (108 bytes on Linux).
    static func address(_ path: String) -> (sockaddr_un, socklen_t)? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return (addr, length)
    }

    /// `socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)` then `connect`. Returns the descriptor.
    public static func connect(path: String, nonBlocking: Bool = false) throws(SystemError) -> Int32 {
        guard let (address_, length_) = address(path) else { throw SystemError("connect", errno: ENAMETOOLONG) }
        var type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        var addr = address_
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length_) }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            throw SystemError("connect", errno: e)
        }
        return fd
    }

    /// `socket` + `bind` + `listen` on `path`, with `mode` applied to the socket file.
    public static func listen(path: String, backlog: Int32 = 1024, mode: mode_t = 0o660) throws(SystemError) -> Int32 {
        guard let (address_, length_) = address(path) else { throw SystemError("bind", errno: ENAMETOOLONG) }
        var addr = address_
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length_) }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            throw SystemError("bind", errno: e)
        }
        chmod(path, mode)
        if Glibc.listen(fd, backlog) != 0 {
            let e = errno
            close(fd)
            throw SystemError("listen", errno: e)
        }
        return fd
    }

    /// `getsockopt(SO_PEERCRED)`.
    public static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard cprobe_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    /// Sets `SO_SNDTIMEO` and `SO_RCVTIMEO` (0 = wait forever).
    public static func setTimeouts(_ fd: Int32, send: UInt64? = nil, receive: UInt64? = nil) {
        func set(_ option: Int32, _ ns: UInt64) {
            var tv = timeval(tv_sec: Int(ns / 1_000_000_000), tv_usec: Int((ns % 1_000_000_000) / 1000))
            setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        if let send { set(SO_SNDTIMEO, send) }
        if let receive { set(SO_RCVTIMEO, receive) }
    }

    /// Sets `SO_SNDBUF` (the kernel doubles it and caps it at `wmem_max`).
    public static func setSendBuffer(_ fd: Int32, bytes: Int32) {
        var v = bytes
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Bytes queued to read (`SIOCINQ`): on a SOCK_SEQPACKET socket, every queued message together;
    /// 0 when none or on error.
    public static func queuedBytes(_ fd: Int32) -> Int {
        max(0, cprobe_queued_bytes(fd))
    }

    public static func setReceiveBuffer(_ fd: Int32, bytes: Int32) {
        var v = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// `send(MSG_NOSIGNAL)`: one whole message. Returns false with `errno` set on failure.
    @discardableResult
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, flags: Int32 = 0) -> Bool {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | flags)
            if n == bytes.count { return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    @discardableResult
    public static func send(_ fd: Int32, _ bytes: [UInt8], flags: Int32 = 0) -> Bool {
        bytes.withUnsafeBytes { send(fd, $0, flags: flags) }
    }

    /// `recv(MSG_TRUNC)` of one message into `buffer`. Returns the message's real size (which may
    /// exceed the buffer: the message was then cut), 0 at end of stream, or -1 with `errno` set.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC) | flags)
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// True when a process is listening on `path` (a connect succeeds).
    public static func isLive(path: String) -> Bool {
        guard let fd = try? connect(path: path) else { return false }
        close(fd)
        return true
    }
}

extension UnixSocket {
    /// `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)`: the new descriptor, or -1 with `errno` set.
    public static func accept(_ fd: Int32) -> Int32 { cprobe_accept(fd) }
}
