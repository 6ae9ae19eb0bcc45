#if canImport(Glibc)
import Glibc
#endif

/// Where clients and daemon meet when nobody says. The order, documented once in the README:
///
/// 1. an explicit path (`--socket`, `Probe(socketPath:)`), then `$PROBED_SOCKET`;
/// 2. the system service's socket, `/run/probed/probed.sock`
///    (`$RUNTIME_DIRECTORY/probed.sock` for the daemon when systemd gives it one);
/// 3. `$XDG_RUNTIME_DIR/probed.sock` (the user's own daemon);
/// 4. `/tmp/probed-<uid>.sock`.
///
/// A daemon listens on the first of these it is entitled to; a client connects to the first
/// that exists, and looks again each time it reconnects.
public enum SocketPath {
    public static let systemPath = "/run/probed/probed.sock"

    public static func environment(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    /// The candidates in order, after any explicit path and `$PROBED_SOCKET`.
    public static func candidates() -> [String] {
        var list = [systemPath]
        if let xdg = environment("XDG_RUNTIME_DIR") { list.append(xdg + "/probed.sock") }
        list.append("/tmp/probed-\(getuid()).sock")
        return list
    }

    /// The path a client should try now.
    public static func forClient(explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment("PROBED_SOCKET") { return env }
        let list = candidates()
        return list.first(where: { isSocket($0) }) ?? list.last!
    }

    /// The path a daemon should listen on.
    public static func forDaemon(explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment("PROBED_SOCKET") { return env }
        if let runtime = environment("RUNTIME_DIRECTORY") {
            // systemd may pass several directories separated by ':'; the first is ours.
            return String(runtime.split(separator: ":").first ?? Substring(runtime)) + "/probed.sock"
        }
        if let xdg = environment("XDG_RUNTIME_DIR") { return xdg + "/probed.sock" }
        return "/tmp/probed-\(getuid()).sock"
    }

    public static func isSocket(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }
}
