/* wandelay — the delay stage of Tools/bench --wan: an L2 bridge between two
 * interfaces that holds every frame for a fixed time, so TCP between the two
 * sides sees a real round trip (this kernel has no netem).
 *
 *   wandelay IFACE_A IFACE_B DELAY_US
 *
 * It runs in the middle network namespace, between the relay's veth and the
 * agent's. Frames pass as the kernel hands them over (PACKET_VNET_HDR: a GSO
 * packet of up to 64 KiB crosses user space once, not as 45 frames), so the
 * stage costs little per byte and is not the link's limit; `tc tbf` on the
 * egress of both middle interfaces is. One thread per direction; each holds at
 * most CAP bytes and drops beyond (a router's full queue), counted.
 * SIGUSR1 prints the counters; SIGTERM ends it.
 * Built by Tools/bench.d/wan.py with gcc at bench time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS (1u << 16)            /* frames in flight per direction */
#define CAP (128u << 20)            /* bytes in flight per direction */
#define FRAME_MAX (256u << 10)

struct slot { uint64_t due; uint32_t len; unsigned char *buf; };
struct dir {
    int in, out;
    const char *name;
    struct slot *q;
    uint32_t head, count;
    uint64_t held, frames, bytes, dropped_full, dropped_send;
};

static uint64_t delay_ns;
static struct dir dirs[2];

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int open_iface(const char *name) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) { perror("socket"); exit(1); }
    int one = 1, big = 64 << 20;
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) { perror("PACKET_VNET_HDR"); exit(1); }
    /* Our own transmissions on this interface are not input. */
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) { perror("PACKET_IGNORE_OUTGOING"); exit(1); }
    /* Room for bursts while this thread waits for a core, and so a full tbf
     * queue, not this socket's send budget, is what drops. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    struct sockaddr_ll a = {0};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = (int)if_nametoindex(name);
    if (a.sll_ifindex == 0) { fprintf(stderr, "wandelay: no interface %s\n", name); exit(1); }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    return fd;
}

static void flush_due(struct dir *d, uint64_t now) {
    while (d->count && d->q[d->head].due <= now) {
        struct slot *s = &d->q[d->head];
        if (send(d->out, s->buf, s->len, 0) < 0) d->dropped_send++;
        d->held -= s->len;
        free(s->buf);
        d->head = (d->head + 1) & (SLOTS - 1);
        d->count--;
    }
}

static void *run(void *arg) {
    struct dir *d = arg;
    unsigned char *buf = malloc(FRAME_MAX);
    if (!buf) { perror("malloc"); exit(1); }
    for (;;) {
        uint64_t now = now_ns();
        flush_due(d, now);
        struct timespec ts, *tp = NULL;
        if (d->count) {
            uint64_t wait = d->q[d->head].due > now ? d->q[d->head].due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tp = &ts;
        }
        struct pollfd p = { .fd = d->in, .events = POLLIN };
        int r = ppoll(&p, 1, tp, NULL);
        if (r < 0 && errno != EINTR) { perror("ppoll"); exit(1); }
        if (r <= 0) continue;
        now = now_ns();
        for (int i = 0; i < 256; i++) {
            ssize_t n = recv(d->in, buf, FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC);
            if (n < 0) break;
            if ((size_t)n > FRAME_MAX) { d->dropped_full++; continue; }
            if (d->count == SLOTS || d->held + (uint64_t)n > CAP) { d->dropped_full++; continue; }
            unsigned char *copy = malloc((size_t)n);
            if (!copy) { d->dropped_full++; continue; }
            memcpy(copy, buf, (size_t)n);
            struct slot *s = &d->q[(d->head + d->count) & (SLOTS - 1)];
            s->due = now + delay_ns;
            s->len = (uint32_t)n;
            s->buf = copy;
            d->count++;
            d->held += (uint64_t)n;
            d->frames++;
            d->bytes += (uint64_t)n;
        }
    }
    return NULL;
}

static int stats_fd(int fd, unsigned *drops) {
    struct tpacket_stats st;
    socklen_t l = sizeof st;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) < 0) return -1;
    *drops = st.tp_drops;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: wandelay IFACE_A IFACE_B DELAY_US\n"); return 2; }
    delay_ns = strtoull(argv[3], NULL, 10) * 1000u;
    int a = open_iface(argv[1]), b = open_iface(argv[2]);
    dirs[0] = (struct dir){ .in = a, .out = b, .name = "a->b" };
    dirs[1] = (struct dir){ .in = b, .out = a, .name = "b->a" };
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* only main receives them */
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        dirs[i].q = calloc(SLOTS, sizeof(struct slot));
        if (!dirs[i].q) { perror("calloc"); return 1; }
        pthread_create(&t[i], NULL, run, &dirs[i]);
    }
    printf("wandelay ready delay_us=%s\n", argv[3]);
    fflush(stdout);
    for (;;) {
        int sig;
        sigwait(&set, &sig);
        unsigned ka = 0, kb = 0;
        stats_fd(a, &ka);
        stats_fd(b, &kb);
        for (int i = 0; i < 2; i++)
            printf("wandelay %s frames=%llu bytes=%llu dropped_full=%llu dropped_send=%llu\n",
                   dirs[i].name, (unsigned long long)dirs[i].frames, (unsigned long long)dirs[i].bytes,
                   (unsigned long long)dirs[i].dropped_full, (unsigned long long)dirs[i].dropped_send);
        /* Frames the kernel dropped because a socket's receive buffer was full
         * (since the previous report): the stage falling behind. */
        printf("wandelay socket_drops a=%u b=%u\n", ka, kb);
        fflush(stdout);
        if (sig != SIGUSR1) return 0;
    }
}
