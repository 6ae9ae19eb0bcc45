#if canImport(Glibc)
import Glibc
#endif
import ProbeClient
import ProbePosix

// A real client process whose memory the integration tests know.
//   probe-leak-fixture --socket PATH --service NAME --mode leak|hold|delta|mmap [--seconds S] [--mib M] [--calls N] [--file F]
// leak:  every 0.5 s, one memory-tracked call allocates and touches M MiB (default 4) and keeps it;
// hold:  once connected, waits 1 s, allocates and touches M MiB (default 64) once, then makes an
//        empty call every 0.5 s, holding it;
// delta: N memory-tracked calls (default 5) that each map and touch M MiB (default 16), kept
//        until the call has been measured, then unmapped; and N tracked calls that allocate nothing.
// mmap:  writes F (M MiB, default 400) unless it already has that size, maps it read-only, and
//        every 0.5 s one call reads the next 4 MiB through the mapping (a byte per page), as a
//        service reading model weights through mmap does: file-backed pages, nothing it owns.
// leak, hold and mmap run for S seconds (default 120), then exit; delta flushes and exits at once.

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 { options[args.removeFirst()] = args.removeFirst() }
guard let socket = options["--socket"], let service = options["--service"], let mode = options["--mode"],
      ["leak", "hold", "delta", "mmap"].contains(mode), args.isEmpty, mode != "mmap" || options["--file"] != nil
else {
    writeStandardError("usage: probe-leak-fixture --socket PATH --service NAME --mode leak|hold|delta|mmap [--seconds S] [--mib M] [--calls N] [--file F (mmap)]\n")
    exit(2)
}
let seconds = Double(options["--seconds"] ?? "120") ?? 120
let mib = Int(options["--mib"] ?? ["leak": "4", "hold": "64", "mmap": "400"][mode] ?? "16") ?? 4
let calls = Int(options["--calls"] ?? "5") ?? 5

/// Allocates `bytes` and writes every page, so they are resident.
func touched(_ bytes: Int) -> UnsafeMutableRawPointer {
    let p = malloc(bytes)!
    memset(p, 0x5A, bytes)
    return p
}

let probe = Probe(service: service, socketPath: socket)
let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
var connectWait = 0
while !probe.isConnected && connectWait < 500 {
    sleepNanoseconds(10_000_000)
    connectWait += 1
}

switch mode {
case "leak":
    let grow = probe.operation("grow", trackMemory: true)
    var kept: [UnsafeMutableRawPointer] = []
    while monotonicNanoseconds() < deadline {
        kept.append(grow.measure { touched(mib << 20) })
        sleepNanoseconds(500_000_000)
    }
case "hold":
    sleepNanoseconds(1_000_000_000)
    let weights = probe.measure("load", trackMemory: true) { touched(mib << 20) }
    let serve = probe.operation("serve")
    while monotonicNanoseconds() < deadline {
        serve.measure { withExtendedLifetime(weights) {} }
        sleepNanoseconds(500_000_000)
    }
case "mmap":
    let path = options["--file"]!
    let bytes = mib << 20
    var info = stat()
    if stat(path, &info) != 0 || Int(info.st_size) != bytes {
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(out >= 0, "cannot create \(path)")
        var chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        for _ in 0..<mib { precondition(write(out, &chunk, chunk.count) == chunk.count, "cannot write \(path)") }
        close(out)
    }
    let fd = open(path, O_RDONLY)
    let base = mmap(nil, bytes, PROT_READ, MAP_PRIVATE, fd, 0)!
    precondition(base != MAP_FAILED, "cannot map \(path)")
    let read = probe.operation("read_weights")
    var offset = 0
    var checksum: UInt8 = 0
    while monotonicNanoseconds() < deadline {
        read.measure {
            for page in stride(from: offset, to: offset + (4 << 20), by: 4096) {
                checksum &+= base.load(fromByteOffset: page, as: UInt8.self)
            }
        }
        offset = (offset + (4 << 20)) % bytes
        sleepNanoseconds(500_000_000)
    }
    print("checksum \(checksum)")
default:
    // mmap rather than malloc: glibc would serve a repeated large malloc from pages it kept
    // resident after the previous free (its dynamic mmap threshold), and the delta would be 0.
    let alloc = probe.operation("alloc", trackMemory: true)
    let nothing = probe.operation("nothing", trackMemory: true)
    for _ in 0..<calls {
        let p = alloc.measure { () -> UnsafeMutableRawPointer in
            let p = mmap(nil, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            memset(p, 0x5A, mib << 20)
            return p
        }
        munmap(p, mib << 20)
        _ = nothing.measure { 42 }
    }
}
let flushed = probe.flush(timeout: .seconds(20))
print("mode \(mode) flushed \(flushed) dropped \(probe.droppedEvents)")
exit(flushed ? 0 : 3)
