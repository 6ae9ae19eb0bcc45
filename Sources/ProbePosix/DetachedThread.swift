#if canImport(Glibc)
import Glibc
#endif
import CProbeSys

/// A thread of its own for a long-running loop (an accept loop, a sampler), without Foundation.
public enum DetachedThread {
    public struct StartError: Error, CustomStringConvertible {
        public var name: String
        public var code: Int32
        public var description: String { "cannot start the \(name) thread: \(String(cString: strerror(code)))" }
    }

    /// Runs `body` on a new detached thread named `name`: Linux keeps the first 15 bytes, which
    /// `top -H`, `ps -L` and `/proc/<pid>/task/*/comm` show. The default stack (as `ulimit -s`).
    /// - Throws: `StartError` when the system refuses a thread (`EAGAIN`: a limit on threads).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(StartError) {
        let context = Unmanaged.passRetained(Body(name: name, run: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            cprobe_set_thread_name(body.name)
            body.run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw StartError(name: name, code: rc)
        }
    }

    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }
}
