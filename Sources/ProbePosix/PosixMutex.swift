#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`: the lock probe's daemon and tools use instead of
/// `Synchronization.Mutex`.
///
/// Why not `Synchronization.Mutex`: on Linux it hands a contended lock over inside the kernel
/// (a priority-inheriting futex) from a standard-library path ThreadSanitizer cannot see, so TSan
/// misses the hand-over and reports the next holder's access to the value as a race with the
/// last one's — under any contended lock, wherever `withLock` was inlined (no frame names the
/// Mutex, so no suppression can match only it). TSan intercepts `pthread_mutex_lock` and
/// `pthread_mutex_unlock`, so behind this lock it sees every hand-over and still reports real
/// races. The client's `ForkSafeMutex` is the same lock with what `fork` needs besides.
///
/// Holders must not block, wait or call out for long while holding it; it is not recursive.
public final class PosixMutex<Value>: @unchecked Sendable {
    // (1) `@unchecked Sendable`: `value` is read and written only while `mutex` is held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    public init(_ initial: Value) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        value = .allocate(capacity: 1)
        value.initialize(to: initial)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value, holding the lock; what `body` returns or throws passes through.
    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
