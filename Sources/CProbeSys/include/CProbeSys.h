#ifndef CPROBESYS_H
#define CPROBESYS_H
// Small C shims for what Swift's Glibc module does not expose (GNU extensions).

/// The CPU the calling thread runs on (glibc reads it from rseq: no system call), or -1.
int cprobe_current_cpu(void);

#if defined(__has_include)
#if __has_include(<sys/rseq.h>) && (defined(__x86_64__) || defined(__aarch64__))
#include <sys/rseq.h>
#define CPROBE_HAVE_RSEQ 1
#endif
#endif

/// The same, inline: the kernel keeps the current CPU in the thread's rseq area, which glibc
/// (2.35+) registers at thread start; reading it is one load (0.2 ns here) where the call to
/// sched_getcpu costs about 5 ns — a tenth of what `measure` may add to the service's call.
/// Falls back to sched_getcpu when glibc did not register rseq (older glibc, or disabled with
/// GLIBC_TUNABLES=glibc.pthread.rseq=0).
static inline int cprobe_current_cpu_inline(void) {
#ifdef CPROBE_HAVE_RSEQ
    if (__builtin_expect(__rseq_size > 0, 1)) {
        const struct rseq *area = (const struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
        int cpu = (int)*(const volatile unsigned int *)&area->cpu_id;
        if (__builtin_expect(cpu >= 0, 1)) return cpu;
    }
#endif
    return cprobe_current_cpu();
}

#endif

#ifndef CPROBESYS_PEERCRED
#define CPROBESYS_PEERCRED
/// getsockopt(SO_PEERCRED): the peer's pid, uid and gid as the kernel recorded them. 0 on success.
int cprobe_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);
#endif

/// epoll, level-triggered, for readability (EPOLLIN | EPOLLRDHUP); the event's data is the fd.
int cprobe_epoll_create(void);
int cprobe_epoll_add(int epfd, int fd);
int cprobe_epoll_del(int epfd, int fd);
/// Waits up to timeout_ms; writes the ready fds into `fds` (at most `max`). Returns the count or -1.
int cprobe_epoll_wait(int epfd, int *fds, int max, int timeout_ms);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK).
int cprobe_accept(int fd);

/// Bytes of heap the process has allocated and not freed (glibc mallinfo2().uordblks; main arena
/// and others). For measuring memory budgets in tests and benchmarks.
unsigned long cprobe_heap_in_use(void);

/// mallopt(M_TRIM_THRESHOLD) and mallopt(M_MMAP_THRESHOLD): how much freed heap glibc keeps
/// rather than handing back to the kernel, and the size from which blocks get their own mapping.
void cprobe_keep_freed_heap(unsigned long trim_threshold, unsigned long mmap_threshold);

/// getsockopt(SO_PEERGROUPS): the peer's supplementary groups as the kernel recorded them at
/// connect (Linux 4.13+). Writes at most `max` gids; returns their count, or -1 with errno set.
int cprobe_peer_groups(int fd, unsigned int *gids, int max);

/// ioctl(TIOCGWINSZ): the terminal's rows and columns. 0 on success.
int cprobe_window_size(int fd, int *rows, int *cols);

/// ioctl(SIOCINQ): bytes queued to read on a socket; for a Unix SOCK_SEQPACKET socket, the sum over
/// every queued message. -1 with errno set on failure.
long cprobe_queued_bytes(int fd);

/// prctl(PR_SET_NAME): names the calling thread (the kernel keeps 15 bytes) for top -H and ps -L.
void cprobe_set_thread_name(const char *name);

// ProbeClient's per-thread state (see Sources/ProbeClient/EventBuffer.swift).

/// One probe's ring for the calling thread: the probe's serial (unique in the process, never
/// reused; 0 = empty slot) and its ring.
typedef struct {
    unsigned long long serial;
    void *ring;
} cprobe_ring_slot;

/// The calling thread's rings, most recently used first. Only the thread itself reads or writes
/// them (and, once it exits, the release callback of cprobe_thread_rings_watch).
typedef struct {
    cprobe_ring_slot slots[4];
} cprobe_thread_rings;

/// Initial-exec TLS: one `%fs`-relative load, no __tls_get_addr call. (A library holding this
/// can be dlopen'd only while glibc's static TLS surplus has room; 64 bytes is far within it.)
extern __thread cprobe_thread_rings cprobe_tls_rings __attribute__((tls_model("initial-exec")));

static inline cprobe_thread_rings *cprobe_thread_rings_get(void) { return &cprobe_tls_rings; }

/// Makes sure `release(ring)` is called for each non-empty slot of the calling thread's rings
/// when it exits (a pthread key destructor); `release` must be the same for every call.
/// 0 on success, or an errno value (then the rings are never released: they leak, nothing else).
int cprobe_thread_rings_watch(void (*release)(void *ring));

/// sem_clockwait(CLOCK_MONOTONIC) for `timeout_ns` from now, retried on EINTR: a wall-clock
/// step never stretches the wait. 0 when the semaphore was taken, -1 on timeout (or error).
#include <semaphore.h>
int cprobe_sem_wait_ns(sem_t *sem, long long timeout_ns);
