#if canImport(Glibc)
import Glibc
#endif
import ProbePosix

/// A Unix group named in the settings (`--allow-group`, `--control-group`), resolved once.
public struct GroupRef: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var gid: UInt32

    public init(name: String, gid: UInt32) {
        self.name = name
        self.gid = gid
    }

    public var description: String { "\(name) (gid \(gid))" }

    /// Looks up a group by name (or by number); nil when the system has no such group.
    public static func resolve(_ text: String) -> GroupRef? {
        guard !text.isEmpty else { return nil }
        if let entry = getgrnam(text) {
            return GroupRef(name: text, gid: entry.pointee.gr_gid)
        }
        if let gid = UInt32(text) {
            let name = getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? text
            return GroupRef(name: name, gid: gid)
        }
        return nil
    }
}

/// Who may connect: the daemon's own user, root, and the uids and gids configured.
public struct AccessPolicy: Sendable {
    public var uids: Set<UInt32>
    public var gids: Set<UInt32>
    public init(uids: Set<UInt32> = [geteuid(), 0], gids: Set<UInt32> = []) {
        self.uids = uids
        self.gids = gids
    }
    /// `groups` gives the peer's supplementary groups; it is called only when they can matter.
    public func allows(_ c: PeerCredentials, groups: () -> [UInt32] = { [] }) -> Bool {
        if uids.contains(c.uid) || gids.contains(c.gid) { return true }
        return !gids.isEmpty && groups().contains(where: gids.contains)
    }
}

extension AccessPolicy {
    /// Connecting: the daemon's own user, root, and the members of `--allow-group`.
    static func connecting(_ options: DaemonOptions) -> AccessPolicy {
        AccessPolicy(uids: [geteuid(), 0], gids: options.allowGroup.map { [$0.gid] } ?? [])
    }

    /// Changing state (reset; thresholds later): the daemon's own user, root, and the members of
    /// `--control-group`. Everybody allowed to connect may read.
    static func changingState(_ options: DaemonOptions) -> AccessPolicy {
        AccessPolicy(uids: [geteuid(), 0], gids: options.controlGroup.map { [$0.gid] } ?? [])
    }

    /// `allows` with the peer's supplementary groups from the kernel (SO_PEERGROUPS), or from
    /// `/proc/<pid>/status` where the kernel cannot say; read only when they can matter.
    func allows(_ peer: PeerCredentials, fd: Int32) -> Bool {
        allows(peer, groups: { UnixSocket.peerGroups(fd) ?? UnixSocket.processGroups(pid: peer.pid) ?? [] })
    }
}

enum SocketFileAccess {
    /// Gives the socket file a mode and group matching the policy: 0600 for the daemon's user
    /// alone (root passes anyway), or 0660 owned by the `--allow-group` group.
    static func apply(to path: String, allowGroup: GroupRef?, log: Log) {
        guard path.hasPrefix("/") else { return }
        if let group = allowGroup {
            if chown(path, uid_t.max, group.gid) != 0 {
                log.warning("cannot give \(path) to group \(group): \(SystemError("chown")); members of the group cannot connect")
            }
            chmod(path, 0o660)
        } else {
            chmod(path, 0o600)
        }
    }
}
