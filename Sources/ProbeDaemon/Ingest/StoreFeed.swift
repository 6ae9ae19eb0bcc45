import Dispatch

/// The ordered, bounded hand-off from the ingest thread to the store actor: one item per
/// received message, applied in order by a single task. When the store falls behind by
/// `capacity` messages the ingest thread waits, the clients' socket buffers fill, and the
/// clients drop and count — the daemon's memory stays bounded.
final class StoreFeed: Sendable {
    let continuation: AsyncStream<IngestItem>.Continuation
    let stream: AsyncStream<IngestItem>
    let slots: DispatchSemaphore

    init(capacity: Int = 256) {
        (stream, continuation) = AsyncStream<IngestItem>.makeStream(bufferingPolicy: .unbounded)
        slots = DispatchSemaphore(value: capacity)
    }

    /// Queues `item`; blocks the calling (ingest) thread while the queue is full.
    func submit(_ item: IngestItem) {
        slots.wait()
        continuation.yield(item)
    }

    /// Applies every item in order; returns when the feed is finished.
    func drain(into store: Store) async {
        for await item in stream {
            await store.apply(item)
            slots.signal()
        }
    }
}
