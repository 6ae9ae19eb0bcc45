#define _GNU_SOURCE
#include <sched.h>
#include "CProbeSys.h"

int cprobe_current_cpu(void) { return sched_getcpu(); }

#include <sys/socket.h>

int cprobe_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

#include <sys/epoll.h>

int cprobe_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cprobe_epoll_add(int epfd, int fd) {
    struct epoll_event ev = {0};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int cprobe_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int cprobe_epoll_wait(int epfd, int *fds, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

int cprobe_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

#include <malloc.h>

unsigned long cprobe_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (unsigned long)info.uordblks;
}

void cprobe_keep_freed_heap(unsigned long trim_threshold, unsigned long mmap_threshold) {
    mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
    mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
}

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int cprobe_peer_groups(int fd, unsigned int *gids, int max) {
    socklen_t len = (socklen_t)(max * sizeof(gid_t));
    gid_t *buffer = malloc(len > 0 ? len : sizeof(gid_t));
    if (!buffer) return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buffer, &len) != 0) {
        int e = errno;
        free(buffer);
        errno = e;
        return -1;
    }
    int n = (int)(len / sizeof(gid_t));
    for (int i = 0; i < n && i < max; i++) gids[i] = buffer[i];
    free(buffer);
    return n;
}

int cprobe_window_size(int fd, int *rows, int *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

#include <linux/sockios.h>

long cprobe_queued_bytes(int fd) {
    int n = 0;
    if (ioctl(fd, SIOCINQ, &n) != 0) return -1;
    return n;
}

#include <sys/prctl.h>

void cprobe_set_thread_name(const char *name) { prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

__thread cprobe_thread_rings cprobe_tls_rings __attribute__((tls_model("initial-exec")));

static pthread_key_t rings_key;
static pthread_once_t rings_key_once = PTHREAD_ONCE_INIT;
static int rings_key_error;
static void (*_Atomic rings_release)(void *ring);

static void rings_at_thread_exit(void *value) {
    (void)value;
    cprobe_thread_rings *rings = &cprobe_tls_rings;
    for (int i = 0; i < 4; i++) {
        void *ring = rings->slots[i].ring;
        rings->slots[i].serial = 0;
        rings->slots[i].ring = NULL;
        void (*release)(void *) = atomic_load_explicit(&rings_release, memory_order_acquire);
        if (ring && release) release(ring);
    }
}

static void rings_key_create(void) { rings_key_error = pthread_key_create(&rings_key, rings_at_thread_exit); }

int cprobe_thread_rings_watch(void (*release)(void *ring)) {
    pthread_once(&rings_key_once, rings_key_create);
    if (rings_key_error) return rings_key_error;
    // The same function from every caller: stored once, read by exiting threads.
    if (atomic_load_explicit(&rings_release, memory_order_relaxed) != release)
        atomic_store_explicit(&rings_release, release, memory_order_release);
    // Any non-NULL value: the destructor runs only for threads whose value is set.
    if (pthread_getspecific(rings_key) == NULL) return pthread_setspecific(rings_key, &cprobe_tls_rings);
    return 0;
}

int cprobe_sem_wait_ns(sem_t *sem, long long timeout_ns) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ns / 1000000000LL;
    deadline.tv_nsec += timeout_ns % 1000000000LL;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    while (1) {
        if (sem_clockwait(sem, CLOCK_MONOTONIC, &deadline) == 0) return 0;
        if (errno != EINTR) return -1;
    }
}
