import CProbeSys

/// Bytes of heap this process has allocated and not yet freed, from glibc's `mallinfo2`.
/// Counts every thread's allocations, so measure a difference around work done on one thread.
public func heapBytesInUse() -> Int {
    Int(cprobe_heap_in_use())
}

/// Tells glibc to keep up to `trimThreshold` bytes of freed heap rather than give it back to the
/// kernel (and fault it in, zeroed, at the next allocation), and to serve blocks below
/// `mmapThreshold` from the heap.
public func keepFreedHeap(trimThreshold: Int, mmapThreshold: Int) {
    cprobe_keep_freed_heap(UInt(trimThreshold), UInt(mmapThreshold))
}
