#if canImport(Glibc)
import Glibc
#endif

/// The memory figures of one process, from `/proc/<pid>/status` (the kernel reports them in kB,
/// meaning KiB; these are bytes).
public struct ProcStatus: Sendable, Equatable {
    /// VmRSS: resident set now.
    public var rssBytes: UInt64
    /// VmHWM: the largest resident set the process ever had (the kernel's own peak).
    public var peakBytes: UInt64
    /// RssAnon: resident anonymous memory (heap, stacks) — where leaks live; file-backed pages
    /// such as memory-mapped model weights (RssFile) and shared memory (RssShmem) are the rest of VmRSS.
    public var anonBytes: UInt64?
    /// VmSwap: memory swapped out (a leak on a host with swap moves here).
    public var swapBytes: UInt64?
    /// RssFile: resident pages of mapped files (model weights read through mmap, libraries):
    /// the kernel drops and re-reads them at will, so their growth is no leak.
    public var fileBytes: UInt64?
    /// RssShmem: resident shared memory (tmpfs, `/dev/shm`, shared anonymous mappings).
    public var shmemBytes: UInt64?

    public init(rssBytes: UInt64, peakBytes: UInt64, anonBytes: UInt64? = nil, swapBytes: UInt64? = nil,
                fileBytes: UInt64? = nil, shmemBytes: UInt64? = nil) {
        self.rssBytes = rssBytes
        self.peakBytes = peakBytes
        self.anonBytes = anonBytes
        self.swapBytes = swapBytes
        self.fileBytes = fileBytes
        self.shmemBytes = shmemBytes
    }

    /// The memory the process owns: resident anonymous memory and what of it is swapped out
    /// (RssAnon + VmSwap) — where a leak lives, and what the leak detector fits. VmRSS on a
    /// kernel without RssAnon (before 4.5).
    public var ownedBytes: UInt64 {
        guard let anonBytes else { return rssBytes }
        let (sum, overflow) = anonBytes.addingReportingOverflow(swapBytes ?? 0)
        return overflow ? .max : sum
    }

    /// Reads `/proc/<pid>/status`; nil when the process is gone, unreadable, or a kernel thread.
    public static func read(pid: Int32) -> ProcStatus? {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        var used = 0
        while used < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + used, $0.count - used, off_t(used)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            used += n
        }
        return parse(String(decoding: bytes[0..<used], as: UTF8.self))
    }

    /// Parses the text of a status file; nil when VmRSS is missing.
    public static func parse(_ text: String) -> ProcStatus? {
        var fields: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            guard ["VmRSS", "VmHWM", "RssAnon", "VmSwap", "RssFile", "RssShmem"].contains(key) else { continue }
            let parts = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
                .flatMap { $0.split(separator: "\t") }
            guard let number = parts.first.flatMap({ UInt64($0) }) else { continue }
            let (bytes, overflow) = number.multipliedReportingOverflow(by: 1024)
            fields[key] = overflow ? .max : bytes
        }
        guard let rss = fields["VmRSS"] else { return nil }
        return ProcStatus(rssBytes: rss, peakBytes: fields["VmHWM"] ?? rss, anonBytes: fields["RssAnon"], swapBytes: fields["VmSwap"],
                          fileBytes: fields["RssFile"], shmemBytes: fields["RssShmem"])
    }
}
