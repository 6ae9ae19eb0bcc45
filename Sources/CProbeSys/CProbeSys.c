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
