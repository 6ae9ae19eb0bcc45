#if canImport(Glibc)
import Glibc
#endif
import CProbeSys

/// A TCP listening address as given on a command line: `HOST:PORT`, `[IPV6]:PORT` or `:PORT`
/// (every interface). Only the syntax is checked here; `TCPSocket.listen` resolves it.
public struct TCPAddress: Sendable, Equatable, CustomStringConvertible {
    /// nil: every interface.
    public var host: String?
    public var port: UInt16

    public init(host: String?, port: UInt16) {
        self.host = host
        self.port = port
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws(Invalid) {
        guard let colon = text.lastIndex(of: ":") else {
            throw Invalid(description: "\"\(text)\" is not ADDRESS:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464)")
        }
        var host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        guard let port = UInt16(portText) else {
            throw Invalid(description: "\"\(portText)\" in \"\(text)\" is not a port from 0 to 65535")
        }
        if host.hasPrefix("[") || host.hasSuffix("]") {
            guard host.count > 2, host.hasPrefix("["), host.hasSuffix("]") else {
                throw Invalid(description: "\"\(host)\" in \"\(text)\" is not a bracketed IPv6 address such as [::1]")
            }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw Invalid(description: "\"\(text)\": put an IPv6 address in brackets, e.g. [::1]:9464")
        }
        guard !host.contains(where: { $0 == " " || $0 == "/" || $0 == "\0" }) else {
            throw Invalid(description: "\"\(host)\" in \"\(text)\" is not a host name or address")
        }
        self.host = host.isEmpty ? nil : host
        self.port = port
    }

    public var description: String {
        guard let host else { return ":\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Thin wrappers over the TCP calls the metrics endpoint uses.
public enum TCPSocket {
    public enum ListenError: Error, CustomStringConvertible {
        /// The host does not resolve (getaddrinfo's message).
        case unresolvable(String)
        case system(SystemError)

        public var description: String {
            switch self {
            case .unresolvable(let m): m
            case .system(let e): "\(e)"
            }
        }
    }

    /// `getaddrinfo` + `socket` + `bind` + `listen` on the first address of `address` that binds.
    /// The descriptor is blocking (accept waits) and close-on-exec. Returns it and the bound port
    /// (the kernel's choice when `address.port` is 0).
    public static func listen(_ address: TCPAddress, backlog: Int32 = 64) throws(ListenError) -> (fd: Int32, port: UInt16) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            throw .unresolvable("cannot resolve \"\(address.host ?? "")\": \(reason)")
        }
        defer { freeaddrinfo(first) }
        var lastError = SystemError("bind", errno: EADDRNOTAVAIL)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { lastError = SystemError("socket"); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 else {
                lastError = SystemError("bind")
                close(fd)
                continue
            }
            guard Glibc.listen(fd, backlog) == 0 else {
                lastError = SystemError("listen")
                close(fd)
                continue
            }
            return (fd, boundPort(fd) ?? address.port)
        }
        throw .system(lastError)
    }

    /// The local port of a bound socket (`getsockname`).
    public static func boundPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        default:
            return nil
        }
    }

    /// `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)`: the new descriptor, or -1 with `errno` set.
    public static func accept(_ fd: Int32) -> Int32 { cprobe_accept(fd) }

    /// `poll` for `events` on `fd` for at most `milliseconds`: true when ready (or in error, which
    /// the next call reports).
    public static func wait(_ fd: Int32, for events: Int16, milliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let n = poll(&p, 1, milliseconds)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }
}
