#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire

/// probectl's side of the control exchange: one CONTROL_REQUEST (a small JSON object such as
/// `{"command":"stats"}`), answered by CONTROL_RESPONSE chunks until one carries the final flag.
public struct ControlClient {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public let path: String
    let fd: Int32

    /// Connects to the daemon at `path`; throws a message that names the path and the fix.
    public init(path: String, timeout: Duration = .seconds(10)) throws(Failure) {
        self.path = path
        do {
            fd = try UnixSocket.connect(path: path)
        } catch where error.errno == ECONNREFUSED && Self.notASocket(path) != nil {
            throw Failure(message: "cannot reach probed at \(path): \(path) is \(Self.notASocket(path)!), not a socket\n"
                + "Point probectl at probed's socket with --socket PATH or $PROBED_SOCKET (probed names it when it starts: \"listening on …\").")
        } catch where error.errno == EACCES {
            throw Failure(message: "cannot reach probed at \(path): \(error)\n" + Self.permissionHint(path))
        } catch {
            throw Failure(message: """
                cannot reach probed at \(path): \(error)
                Start it with `probed` (or `probed --socket \(path)`), or point probectl at the right socket with --socket PATH or $PROBED_SOCKET.
                """)
        }
        let (s, atto) = timeout.components
        let ns = UInt64(max(0, s)) * 1_000_000_000 + UInt64(atto / 1_000_000_000)
        UnixSocket.setTimeouts(fd, send: ns, receive: ns)
    }

    /// What `path` is when it exists but is no socket ("a directory", "a regular file", …); nil
    /// when it is a socket or is not there.
    static func notASocket(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFSOCK: return nil
        case S_IFDIR: return "a directory"
        case S_IFREG: return "a regular file"
        default: return "a special file"
        }
    }

    /// What to do when the socket file's permissions keep this user out: probed is there, but
    /// admits only its own user, root and the socket file's group (`--allow-group`).
    static func permissionHint(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return "A directory on the way to the socket is closed to you; run probectl as root or as probed's user."
        }
        let mode = String(st.st_mode & 0o777, radix: 8)
        guard st.st_mode & 0o020 != 0, let group = getgrgid(st.st_gid) else {
            return "The socket file (mode \(mode)) admits only probed's user and root: run probectl as one of them, or ask for probed's --allow-group."
        }
        let name = String(cString: group.pointee.gr_name)
        return """
            The socket file admits probed's user, root and the members of group \(name) (mode \(mode)): ask to be added \
            (`sudo usermod -aG \(name) $USER`, then log in again: running processes keep their groups), or run probectl as root.
            """
    }

    public func close() { _ = Glibc.close(fd) }

    /// Sends `request` (JSON text) and returns the whole response text.
    public func request(_ request: String) throws(Failure) -> String {
        guard UnixSocket.send(fd, WireEncoder.controlRequest(request)) else {
            let failure = SystemError("send")
            if let e = refusal() { throw Failure(message: "probed at \(path) refused the request: \(e)") }
            throw Failure(message: "probed at \(path) closed the connection: \(failure)")
        }
        var response: [UInt8] = []
        while true {
            guard let (final, chunk) = try next() else {
                throw Failure(message: "probed at \(path) closed the connection before answering")
            }
            response.append(contentsOf: chunk)
            if final { break }
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// Sends `request` and returns its first response chunk (nil at end of stream); read the rest
    /// with `next()`. For streamed responses such as `--follow`.
    public func send(_ request: String) throws(Failure) -> (final: Bool, chunk: [UInt8])? {
        guard UnixSocket.send(fd, WireEncoder.controlRequest(request)) else {
            let failure = SystemError("send")
            if let e = refusal() { throw Failure(message: "probed at \(path) refused the request: \(e)") }
            throw Failure(message: "probed at \(path) closed the connection: \(failure)")
        }
        return try next()
    }

    /// The ERROR probed sent before closing, if one waits: a probed at one of its limits refuses a
    /// connection before reading it, and Linux then reports the reset ahead of that ERROR.
    func refusal() -> WireError? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<2 {
            let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0, flags: Int32(MSG_DONTWAIT)) }
            if n > 0, case .error(let e)? = try? WireDecoder.decode(Array(buffer[0..<n])) { return e }
            if n >= 0 || errno != ECONNRESET { return nil }
        }
        return nil
    }

    /// The next response chunk, or nil at end of stream.
    public func next() throws(Failure) -> (final: Bool, chunk: [UInt8])? {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.maxMessageBytes)
        let n = buffer.withUnsafeMutableBytes { UnixSocket.receive(fd, into: $0) }
        if n == 0 { return nil }
        if n < 0 {
            let failure = SystemError("recv")
            if failure.errno == ECONNRESET, let e = refusal() { throw Failure(message: "probed at \(path) refused the request: \(e)") }
            throw Failure(message: "no answer from probed at \(path): \(failure)")
        }
        switch try? WireDecoder.decode(Array(buffer[0..<min(n, buffer.count)])) {
        case .controlResponse(let final, let chunk):
            return (final, chunk)
        case .error(let e):
            throw Failure(message: "probed at \(path) refused the request: \(e)")
        default:
            throw Failure(message: "probed at \(path) sent an unexpected message")
        }
    }
}
