import CProbeSys

/// Bytes of heap this process has allocated and not yet freed, from glibc's `mallinfo2`.
/// Counts every thread's allocations, so measure a difference around work done on one thread.
public func heapBytesInUse() -> Int {
    Int(cprobe_heap_in_use())
}
