import Dispatch
import Synchronization

extension Store {
    /// Runs `work` on the store from a plain thread (ingest, control, metrics, the samplers: not a
    /// Swift concurrency task) and waits for its result.
    nonisolated func blocking<T: Sendable>(_ work: @escaping @Sendable (Store) async -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work(self)
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}
