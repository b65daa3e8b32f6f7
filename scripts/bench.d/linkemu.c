// linkemu: a point-to-point wire between two TUN devices, one in each of two network namespaces, with a fixed
// one-way delay, a rate per direction, a bounded bottleneck queue and seeded random loss (what `tc netem delay D
// rate R loss P` on both ends of a veth does; this kernel has no sch_netem). scripts/bench compiles it into
// target/bench/ and runs it at real-time priority. Based on ../shared/tools/linkemu.c (session tools), with loss
// and run-time reconfiguration added for issue 21.
//
// usage: linkemu NETNS_A DEV_A NETNS_B DEV_B DELAY_US RATE_BIT_S QUEUE_US [LOSS_PPM [SEED]]
//   Prints "ready" once both TUNs exist. Each line read on standard input, "DELAY_US RATE_BIT_S QUEUE_US LOSS_PPM",
//   sets new parameters (for frames that arrive from then on) and is answered "ok". SIGTERM prints counters and
//   exits; the TUNs vanish with the process.
//
// Frames: without loss the TUNs take TSO frames (virtio-net headers with TSO/checksum offload), so TCP's 64 KiB GSO
// frames cross whole (~2 000 frames/s at 1 Gbit/s). With loss, TSO is switched off so the kernel hands over
// frames of at most one MTU and each lost frame is one lost IP packet, as on a real path (a dropped GSO frame would
// be a burst of ~44 segments). A frame holds the wire for (IP bytes + 14 per segment) * 8 / rate and arrives DELAY
// later; a frame that would wait longer than QUEUE_US for the wire is dropped (a full bottleneck queue); otherwise it
// is lost with probability LOSS_PPM / 1e6 (splitmix64 seeded with SEED, default 1, one stream per direction).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define RING 65536
#define MAXF 262144

struct pkt {
  uint64_t due;
  uint32_t len;
  unsigned char d[];
};

struct dir {
  int in, out;
  struct pkt *ring[RING];
  size_t head, tail;
  uint64_t busy, fw, fwb, drop, lost, maxq, rng;
};

static struct dir D[2];
static uint64_t delay_ns, rate, qlim_ns, loss_ppm;
static volatile sig_atomic_t stop;

static void on_sig(int s) {
  (void)s;
  stop = 1;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int open_tun(const char *ns, const char *dev) {
  char p[512];
  snprintf(p, sizeof p, "/run/netns/%s", ns);
  int nfd = open(p, O_RDONLY | O_CLOEXEC);
  if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) { perror(p); exit(2); }
  close(nfd);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { perror("/dev/net/tun"); exit(2); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(2); }
  return fd;
}

// TSO frames when nothing is lost, MTU frames when packets are lost one by one.
static void set_offload(int fd) {
  unsigned long f = TUN_F_CSUM | (loss_ppm ? 0 : (TUN_F_TSO4 | TUN_F_TSO6));
  if (ioctl(fd, TUNSETOFFLOAD, f) < 0) { perror("TUNSETOFFLOAD"); exit(2); }
}

static uint64_t wire_bytes(const unsigned char *f, uint32_t len) {
  const struct virtio_net_hdr *h = (const void *)f;
  uint64_t ip = len - sizeof *h;
  if ((h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE && h->gso_size && h->hdr_len &&
      ip > h->hdr_len) {
    uint64_t pay = ip - h->hdr_len, n = (pay + h->gso_size - 1) / h->gso_size;
    return pay + n * ((uint64_t)h->hdr_len + 14);
  }
  return ip + 14;
}

static void rx(struct dir *q, unsigned char *buf) {
  for (int i = 0; i < 256; i++) {
    ssize_t n = read(q->in, buf, MAXF);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) { perror("read"); stop = 1; }
      return;
    }
    if ((size_t)n <= sizeof(struct virtio_net_hdr)) continue;
    uint64_t t = now_ns(), start = q->busy > t ? q->busy : t;
    if (start - t > qlim_ns || (q->tail + 1) % RING == q->head) { q->drop++; continue; }
    if (start - t > q->maxq) q->maxq = start - t;
    q->busy = start + wire_bytes(buf, (uint32_t)n) * 8ull * 1000000000ull / rate;
    // Lost on the way: it held the wire, it never arrives.
    if (loss_ppm && splitmix64(&q->rng) % 1000000u < loss_ppm) { q->lost++; continue; }
    struct pkt *p = malloc(sizeof *p + (size_t)n);
    if (!p) { q->drop++; continue; }
    p->due = q->busy + delay_ns;
    p->len = (uint32_t)n;
    memcpy(p->d, buf, (size_t)n);
    q->ring[q->tail] = p;
    q->tail = (q->tail + 1) % RING;
  }
}

static void tx(struct dir *q, uint64_t t) {
  while (q->head != q->tail && q->ring[q->head]->due <= t) {
    struct pkt *p = q->ring[q->head];
    if (write(q->out, p->d, p->len) < 0) q->drop++;
    else { q->fw++; q->fwb += p->len - sizeof(struct virtio_net_hdr); }
    free(p);
    q->head = (q->head + 1) % RING;
  }
}

static int parse_params(const char *line) {
  unsigned long long d, r, q, l;
  if (sscanf(line, "%llu %llu %llu %llu", &d, &r, &q, &l) != 4 || !r || l > 1000000) return -1;
  delay_ns = d * 1000ull;
  rate = r;
  qlim_ns = q * 1000ull;
  loss_ppm = l;
  return 0;
}

// One control line from standard input; returns 0 at end of input.
static int control(int a, int b) {
  static char line[256];
  static size_t used;
  ssize_t n = read(0, line + used, sizeof line - 1 - used);
  if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EINTR);
  used += (size_t)n;
  line[used] = 0;
  char *nl;
  while ((nl = strchr(line, '\n'))) {
    *nl = 0;
    if (parse_params(line) == 0) {
      set_offload(a);
      set_offload(b);
      printf("ok\n");
    } else {
      printf("bad parameters: %s\n", line);
    }
    fflush(stdout);
    used -= (size_t)(nl + 1 - line);
    memmove(line, nl + 1, used + 1);
  }
  if (used == sizeof line - 1) used = 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 8 || argc > 10) {
    fprintf(stderr, "usage: %s NETNS_A DEV_A NETNS_B DEV_B DELAY_US RATE_BIT_S QUEUE_US [LOSS_PPM [SEED]]\n", argv[0]);
    return 2;
  }
  char params[256];
  snprintf(params, sizeof params, "%s %s %s %s", argv[5], argv[6], argv[7], argc > 8 ? argv[8] : "0");
  if (parse_params(params) < 0) { fprintf(stderr, "bad parameters: %s\n", params); return 2; }
  uint64_t seed = argc > 9 ? strtoull(argv[9], 0, 10) : 1;
  int a = open_tun(argv[1], argv[2]), b = open_tun(argv[3], argv[4]);
  set_offload(a);
  set_offload(b);
  D[0].in = a; D[0].out = b; D[0].rng = seed;
  D[1].in = b; D[1].out = a; D[1].rng = seed ^ 0x5bd1e995ull;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sig;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  sigaction(SIGHUP, &sa, 0);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1000UL);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  unsigned char *buf = malloc(MAXF);
  if (!buf) return 2;
  int ctl = 1;
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    uint64_t t = now_ns(), next = UINT64_MAX;
    tx(&D[0], t);
    tx(&D[1], t);
    for (int i = 0; i < 2; i++)
      if (D[i].head != D[i].tail && D[i].ring[D[i].head]->due < next) next = D[i].ring[D[i].head]->due;
    struct pollfd pf[3] = {{a, POLLIN, 0}, {b, POLLIN, 0}, {ctl ? 0 : -1, POLLIN, 0}};
    struct timespec ts, *tp = 0;
    if (next != UINT64_MAX) {
      uint64_t w = next > t ? next - t : 0;
      ts.tv_sec = (time_t)(w / 1000000000ull);
      ts.tv_nsec = (long)(w % 1000000000ull);
      tp = &ts;
    }
    int r = ppoll(pf, 3, tp, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      break;
    }
    if (pf[0].revents & POLLIN) rx(&D[0], buf);
    if (pf[1].revents & POLLIN) rx(&D[1], buf);
    if (pf[2].revents & (POLLIN | POLLHUP)) ctl = control(a, b);
    if ((pf[0].revents | pf[1].revents) & (POLLERR | POLLHUP | POLLNVAL)) { fprintf(stderr, "tun error\n"); break; }
  }
  for (int i = 0; i < 2; i++)
    printf("%s: %llu frames, %llu IP bytes forwarded, %llu frames dropped (queue full), %llu lost (random), "
           "max wait for the wire %.1f ms\n",
           i ? "B->A" : "A->B", (unsigned long long)D[i].fw, (unsigned long long)D[i].fwb,
           (unsigned long long)D[i].drop, (unsigned long long)D[i].lost, D[i].maxq / 1e6);
  fflush(stdout);
  return 0;
}
