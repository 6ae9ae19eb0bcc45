import Dispatch
import Synchronization

/// Hands new slow calls and failures to the control sessions that follow them
/// (`probectl slow --follow`), each through its own bounded queue.
///
/// Publishing never blocks the store: a follower that falls 1,000 entries behind misses the
/// newer ones and is told how many it missed.
final class CallFeed: Sendable {
    enum Kind: Sendable { case slow, errors }

    final class Subscription: Sendable {
        let kind: Kind
        let operation: String?
        let signal = DispatchSemaphore(value: 0)
        let queue = Mutex<(entries: [CallEntry], missed: Int)>(([], 0))
        static let capacity = 1_000

        init(kind: Kind, operation: String?) {
            self.kind = kind
            self.operation = operation
        }

        func wants(_ e: CallEntry) -> Bool {
            (kind == .slow ? e.detail.slow : e.detail.failed) && (operation == nil || operation == e.operation)
        }

        /// Everything queued since the last call, and how many entries did not fit.
        func take() -> (entries: [CallEntry], missed: Int) {
            queue.withLock { q in
                defer { q = ([], 0) }
                return q
            }
        }
    }

    let subscribers = Mutex<[ObjectIdentifier: Subscription]>([:])

    func subscribe(_ kind: Kind, operation: String?) -> Subscription {
        let s = Subscription(kind: kind, operation: operation)
        subscribers.withLock { $0[ObjectIdentifier(s)] = s }
        return s
    }

    func unsubscribe(_ s: Subscription) {
        _ = subscribers.withLock { $0.removeValue(forKey: ObjectIdentifier(s)) }
    }

    func publish(_ e: CallEntry) {
        let targets = subscribers.withLock { list in list.values.filter { $0.wants(e) } }
        for s in targets {
            s.queue.withLock { q in
                if q.entries.count < Subscription.capacity { q.entries.append(e) } else { q.missed += 1 }
            }
            s.signal.signal()
        }
    }
}
