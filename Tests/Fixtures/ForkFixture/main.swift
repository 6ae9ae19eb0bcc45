#if canImport(Glibc)
import Glibc
#endif
import ProbeClient
import ProbePosix
import Synchronization

// A pre-fork server in miniature, for the fork tests: forks workers without exec while another
// thread records (so probe locks and buffers are in use at the instant of each fork).
//   probe-fork-fixture --socket PATH [--children N] [--calls C]
// The parent records C calls of "work" through a handle and does not flush, so they sit in its
// buffer when it forks; a background thread records bursts through names (a new name now and
// then, a failing call now and then) until the children are done. Child i (from 1) records
// C × i calls of "work" through the parent's handle and C × i of "child.only" by name, lets go of
// a second probe the parent made (its teardown must not join the parent's thread), flushes and
// prints one line:
//   child PID work W child.only K dropped D delivered E flushed true|false
// The parent waits for every child, records C more calls of "work", flushes and prints:
//   parent PID work W background B dropped D delivered E flushed true|false
// It exits 0 when every child exited 0 and its own flush succeeded. No Foundation, no Dispatch:
// only what a forking service may use in the child.

struct Stop: Error {}

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 {
    options[args.removeFirst()] = args.removeFirst()
}
guard let socket = options["--socket"], let children = Int(options["--children"] ?? "3"),
      let calls = Int(options["--calls"] ?? "2000"), children > 0, calls > 0
else {
    writeStandardError("usage: probe-fork-fixture --socket PATH [--children N] [--calls C]\n")
    exit(2)
}

func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

let probe = Probe(service: "forker", socketPath: socket)
nonisolated(unsafe) var extra: Probe? = Probe(service: "forker-extra", socketPath: socket)
let work = probe.operation("work")
extra?.measure("extra") {}

/// The parent's other thread: bursts of calls by name until told to stop.
final class Background: @unchecked Sendable {
    let probe: Probe
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    init(_ probe: Probe) { self.probe = probe }

    func run() {
        var n = 0
        while !stop.load(ordering: .acquiring) {
            for _ in 0..<100 {
                if n % 97 == 0 {
                    _ = try? probe.measure("background") { throw Stop() }  // error type + call detail: locks
                } else if n % 1_000 == 0 {
                    probe.measure("background.\(n / 1_000 % 20)") {}  // a name built at run time
                } else {
                    probe.measure("background") {}
                }
                n += 1
                calls.store(n, ordering: .releasing)
            }
            usleep(500)
        }
    }

    /// Starts `run` on a thread of its own (a plain pthread, as a server's worker would be).
    func start() -> pthread_t {
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Background>.fromOpaque(raw!).takeUnretainedValue().run()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque())
        return thread
    }
}

let background = Background(probe)
let thread = background.start()
while background.calls.load(ordering: .acquiring) < 1_000 { usleep(1_000) }

for _ in 0..<calls { work.measure {} }  // not flushed: in the buffer at the fork

var pids: [pid_t] = []
for i in 1...children {
    let pid = fork()
    if pid < 0 {
        say("fork failed: errno \(errno)")
        exit(1)
    }
    if pid == 0 {
        let k = calls * i
        for _ in 0..<k { work.measure {} }
        for _ in 0..<k { probe.measure("child.only") {} }
        extra = nil  // the parent's second probe: its teardown must return promptly
        let flushed = probe.flush(timeout: .seconds(30))
        say("child \(getpid()) work \(k) child.only \(k) dropped \(probe.droppedEvents) delivered \(probe.deliveredEvents) flushed \(flushed)")
        exit(flushed ? 0 : 3)
    }
    pids.append(pid)
    usleep(20_000)  // the background thread keeps recording between forks
}

var childrenOK = true
for pid in pids {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    // WIFEXITED && WEXITSTATUS == 0
    if status & 0x7f != 0 || (status >> 8) & 0xff != 0 {
        say("child \(pid) ended with status \(status)")
        childrenOK = false
    }
}
background.stop.store(true, ordering: .releasing)
pthread_join(thread, nil)
for _ in 0..<calls { work.measure {} }
let flushed = probe.flush(timeout: .seconds(30))
say("parent \(getpid()) work \(2 * calls) background \(background.calls.load(ordering: .acquiring)) dropped \(probe.droppedEvents) delivered \(probe.deliveredEvents) flushed \(flushed)")
exit(childrenOK && flushed ? 0 : 3)
