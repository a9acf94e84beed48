/* floor-proxy: the least a TCP proxy can do per event, in C, for `Tools/bench --cpu`.
 *
 *   floor-proxy TARGET_PORT     (listens on 127.0.0.1, an ephemeral port; prints "ready PORT")
 *
 * One thread, one epoll set, level-triggered: accept, a non-blocking connect to
 * 127.0.0.1:TARGET_PORT, then bytes both ways through one 64 KiB buffer per direction.
 * A direction whose buffer holds unwritten bytes stops reading until they are written
 * (bounded memory), an EOF is passed on as a shutdown of the other socket's write side,
 * and the pair closes once both directions have ended. This is what every process of a
 * tunnel does per event before any crypto or framing: the bench sets relay, agent, sshd
 * and ssh against it, and against the same proxy in Swift on NIO (nio/FloorProxy.swift)
 * and in Swift on epoll without NIO (epoll/FloorProxyEpoll.swift).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (64 * 1024)

struct side;
struct pair { struct side *a, *b; int ended, dead; struct pair *next_dead; };
struct side {
    int fd;
    struct side *peer;
    struct pair *pair;
    size_t off, len;
    int eof;            /* 1: this side sent EOF; 2: passed on (once len was 0) */
    int listener;
    char buf[BUF];      /* bytes read from this side, not yet written to the peer; not zeroed */
};

static struct side *new_side(int fd, struct pair *p) {
    struct side *s = malloc(sizeof *s);
    memset(s, 0, offsetof(struct side, buf));
    s->fd = fd;
    s->pair = p;
    return s;
}

static int ep;
/* Pairs closed during the current batch of events: freed after it, since events of
 * theirs may still be in the batch. */
static struct pair *graveyard;

static void watch(struct side *s) {
    struct epoll_event ev = {0};
    if (s->len == 0 && !s->eof) ev.events |= EPOLLIN;      /* room to read */
    if (s->peer->len > 0) ev.events |= EPOLLOUT;            /* the peer's bytes wait for us */
    ev.data.ptr = s;
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void end_pair(struct pair *p) {
    close(p->a->fd);
    close(p->b->fd);
    p->dead = 1;
    p->next_dead = graveyard;
    graveyard = p;
}

static void bury(void) {
    while (graveyard) {
        struct pair *p = graveyard;
        graveyard = p->next_dead;
        free(p->a);
        free(p->b);
        free(p);
    }
}

/* Writes what s read to its peer; 0 on success, -1 if the pair was closed. */
static int drain(struct side *s) {
    while (s->len > 0) {
        ssize_t n = write(s->peer->fd, s->buf + s->off, s->len);
        if (n < 0) {
            if (errno == EAGAIN) break;
            end_pair(s->pair);
            return -1;
        }
        s->off += (size_t)n;
        s->len -= (size_t)n;
    }
    if (s->len == 0) {
        s->off = 0;
        if (s->eof == 1) {
            shutdown(s->peer->fd, SHUT_WR);
            s->eof = 2;
            if (++s->pair->ended == 2) { end_pair(s->pair); return -1; }
        }
    }
    watch(s);
    watch(s->peer);
    return 0;
}

static void on_readable(struct side *s) {
    if (s->eof || s->len) return;
    ssize_t n = read(s->fd, s->buf, BUF);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        if (n < 0) { end_pair(s->pair); return; }
        s->eof = 1;
    } else {
        s->len = (size_t)n;
    }
    drain(s);
}

static void on_accept(int lfd, int target) {
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        int u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u < 0) { close(c); continue; }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(target),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(u, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
            close(c);
            close(u);
            continue;
        }
        struct pair *p = calloc(1, sizeof *p);
        struct side *a = new_side(c, p), *b = new_side(u, p);
        a->peer = b; b->peer = a;
        p->a = a; p->b = b;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = a};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        ev.data.ptr = b;   /* a connect in progress reports as writable, then readable */
        epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: floor-proxy TARGET_PORT\n"); return 2; }
    int target = atoi(argv[1]);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof at;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&at, sizeof at) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&at, &len) < 0) { perror("floor-proxy: listen"); return 1; }
    ep = epoll_create1(EPOLL_CLOEXEC);
    static struct side listener = {.listener = 1};
    listener.fd = lfd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("ready %d\n", ntohs(at.sin_port));
    fflush(stdout);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            struct side *s = evs[i].data.ptr;
            if (s->listener) { on_accept(lfd, target); continue; }
            if (s->pair->dead) continue;
            if (evs[i].events & EPOLLERR) { end_pair(s->pair); continue; }   /* a reset */
            if (evs[i].events & EPOLLOUT) drain(s->peer);
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->pair->dead) on_readable(s);
        }
        bury();
    }
}
