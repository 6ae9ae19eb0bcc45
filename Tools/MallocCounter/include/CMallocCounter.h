#ifndef CMALLOCCOUNTER_H
#define CMALLOCCOUNTER_H
// Counts heap allocations per thread by interposing malloc and friends (forwarding to glibc's
// __libc_* entry points). Linked only into the memory benchmark, never into a library.

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by the
/// calling thread so far.
long cmalloc_count(void);

#endif
