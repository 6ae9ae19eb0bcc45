import CProbeSys

/// The CPU the calling thread runs on right now (`sched_getcpu`), or 0 when unknown.
/// One load from the thread's rseq area (see `cprobe_current_cpu_inline`); the thread may move
/// right after, so use it only as a hint.
@inline(__always)
public func currentCPU() -> Int {
    let cpu = cprobe_current_cpu_inline()
    return cpu < 0 ? 0 : Int(cpu)
}

/// Level-triggered epoll over file descriptors (`epoll_create1`, `epoll_ctl`, `epoll_wait`).
public struct Epoll: Sendable {
    public let fd: Int32
    public init() throws(SystemError) {
        fd = cprobe_epoll_create()
        guard fd >= 0 else { throw SystemError("epoll_create1") }
    }
    public func add(_ descriptor: Int32) { _ = cprobe_epoll_add(fd, descriptor) }
    public func remove(_ descriptor: Int32) { _ = cprobe_epoll_del(fd, descriptor) }
    /// The descriptors ready to read, written into `ready`; returns their count or -1 (errno set).
    public func wait(into ready: inout [Int32], timeoutMilliseconds: Int32) -> Int {
        Int(ready.withUnsafeMutableBufferPointer { cprobe_epoll_wait(fd, $0.baseAddress, Int32($0.count), timeoutMilliseconds) })
    }
}
