#if canImport(Glibc)
import Glibc
#endif
import ProbeControl
import ProbePosix

/// Control requests that change probed's state. Reading is open to every peer allowed to connect;
/// changing state needs probed's own user, root, or a member of `--control-group`.
extension ControlServer {
    func reset(peer: PeerCredentials, allowed: Bool) -> String {
        guard allowed else {
            log.warning("refused reset from pid \(peer.pid) uid \(peer.uid): changing state needs probed's user (uid \(geteuid())), root or --control-group")
            return ControlServer.errorJSON("uid \(peer.uid) may read but not change probed's state: reset needs probed's own user, root or a member of its --control-group")
        }
        ingest?.barrier()  // what clients sent before the reset is cleared with the rest
        let cleared = store.blocking { await $0.resetStatistics() }
        log.info("statistics reset by pid \(peer.pid) uid \(peer.uid): \(cleared) series cleared")
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("ok", true)
        w.field("series_cleared", cleared)
        w.endObject()
        return w.text
    }
}
