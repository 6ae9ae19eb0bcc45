import Foundation

/// Runs `body` on a thread of its own and returns its result to the awaiting task.
///
/// For tests that call the daemon's blocking entry points (`Store.blocking`, `StoreFeed.submit`,
/// `ControlServer.answer`) as its plain threads do. Called from a test task instead, such a call
/// blocks one of Swift concurrency's pool threads while it waits for a store job that needs a
/// pool thread: on a 2-core machine two such tests running at once leave the pool no thread and
/// never finish.
package func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
