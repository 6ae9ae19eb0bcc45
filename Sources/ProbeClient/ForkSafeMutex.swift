#if canImport(Glibc)
import Glibc
#endif

/// A mutex around a value that a `fork` can take: `pthread_mutex_t` rather than
/// `Synchronization.Mutex`, whose lock exists only inside `withLock`.
///
/// The at-fork handler (ProbeCore+Fork.swift) locks every ProbeClient mutex before `fork`, so no
/// other thread is inside one at that instant, and unlocks them after it in both processes:
/// the child never finds a lock held by a thread that does not exist there, nor a value half
/// changed. Holders never block, wait or call out while holding one.
final class ForkSafeMutex<Value>: ForkLockable, @unchecked Sendable {
    // (1) `@unchecked Sendable`: `value` is touched only while `mutex` is held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    init(_ initial: Value) {
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

    /// Runs `body` with the value, holding the lock (`pthread_mutex_lock`).
    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }

    /// Takes the lock for a coming `fork` (the at-fork prepare handler).
    func lockForFork() { pthread_mutex_lock(mutex) }

    /// Gives it back after `fork`, in the parent and in the child (the thread that took it is
    /// the one thread the child has).
    func unlockAfterFork() { pthread_mutex_unlock(mutex) }

    /// The value, for the forking thread between `lockForFork` and `unlockAfterFork` only.
    var valueWhileLockedForFork: Value { value.pointee }
}

/// What the at-fork handlers take and give back.
protocol ForkLockable: AnyObject {
    func lockForFork()
    func unlockAfterFork()
}
