@testable import ProbeDaemon
import Testing

@Suite struct StartLineTests {
    /// probed's start line as root says "root", not "uid 0 and root" (issue 21, item 8).
    @Test func allowedClients_nameEachOnce() {
        #expect(Daemon.allowedClients(uid: 0, group: nil) == "root")
        #expect(Daemon.allowedClients(uid: 0, group: "probe") == "root and members of group probe")
        #expect(Daemon.allowedClients(uid: 1000, group: nil) == "uid 1000 and root")
        #expect(Daemon.allowedClients(uid: 1000, group: "probe") == "uid 1000, root and members of group probe")
    }
}
