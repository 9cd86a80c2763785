/*
 * TMB simulated kernel: the fanotify helper. DEVELOPMENT ONLY, never a real host's assurance
 * (docs/kernel.md). Compiled by scripts/bootstrap.sh (or on first use) into demo/kernel/build/.
 *
 * It creates a "simulated host" (a mount namespace held by a child), puts fanotify permission
 * marks on that namespace's own copies of the real mounts, and reports every open of a regular
 * file made inside the namespace to its parent (Node), holding the open until the parent
 * answers, as IMA holds an open until the measurement is logged and extended.
 *
 * Usage: fanotify [DIR]  (run as root by its parent; opens of files under DIR, the simulated
 *                         securityfs, are not measured, as IMA's policy skips securityfs)
 * stdout: "READY <nsPid>\n" once marked, then per open "M <seq> <fd> <pid> <x|o> <hexpath>\n"
 * stdin:  "<seq>\n" per measured open: allow it, close the fd, remember the file as measured.
 * stdin EOF or a write error: exit; the kernel then allows every pending open (closing a
 * fanotify group answers its pending permission events with allow).
 * Exit codes: 2 fanotify unavailable, 3 namespace or marks failed, 0 on EOF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PENDING 4096     /* opens held at once; one more is denied (EPERM), never allowed unmeasured */
#define CACHE_SLOTS (1 << 16) /* measured-file cache, direct mapped: 65,536 x 48 bytes = 3 MiB, fixed */

/* IMA re-measures a file once it changed (i_version); the nearest user space sees is this key. */
struct key { uint64_t dev, ino, size; int64_t cs, cns, ms, mns; };
struct pending { uint64_t seq; int fd; struct key key; };

static struct key cache[CACHE_SLOTS];
static struct pending pend[MAX_PENDING];
static int npend;
static uint64_t next_seq = 1;
static int fan_fd;
static const char *skip_dir; /* argv[1], canonical, or NULL */
static size_t skip_len;

static void die(int code, const char *what) {
  fprintf(stderr, "fanotify helper: %s: %s\n", what, strerror(errno));
  exit(code);
}

static struct key key_of(const struct stat *st) {
  struct key k = { st->st_dev, st->st_ino, (uint64_t)st->st_size, st->st_ctim.tv_sec,
                   st->st_ctim.tv_nsec, st->st_mtim.tv_sec, st->st_mtim.tv_nsec };
  return k;
}

static size_t slot_of(const struct key *k) { /* FNV-1a over the key's bytes */
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *p = (const unsigned char *)k;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return (size_t)(h & (CACHE_SLOTS - 1));
}

static void respond(int fd, uint32_t verdict) {
  struct fanotify_response r = { .fd = fd, .response = verdict };
  if (write(fan_fd, &r, sizeof r) != sizeof r) perror("fanotify helper: response");
  close(fd);
}

/* Filesystems that hold no files a host runs or reads as content: left unmarked. */
static int skipped_fs(const char *t) {
  static const char *skip[] = { "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
    "securityfs", "debugfs", "tracefs", "bpf", "pstore", "configfs", "fusectl", "hugetlbfs",
    "binfmt_misc", "autofs", "efivarfs", "rpc_pipefs", "nsfs", "selinuxfs", NULL };
  for (int i = 0; skip[i]; i++) if (strcmp(t, skip[i]) == 0) return 1;
  return 0;
}

static void unescape(char *s) { /* mountinfo writes space, tab, newline, backslash as \ooo */
  char *o = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
      *o++ = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
      p += 3;
    } else *o++ = *p;
  }
  *o = 0;
}

/* Marks every real-filesystem mount of the current mount namespace (proc(5), mountinfo). */
static int mark_mounts(void) {
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (!f) die(3, "mountinfo");
  char line[8192];
  int marked = 0;
  while (fgets(line, sizeof line, f)) {
    char mnt[4096], fstype[256];
    /* fields: id parent maj:min root mountpoint options [optional...] - fstype source super */
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1) continue;
    char *dash = strstr(line, " - ");
    if (!dash || sscanf(dash + 3, "%255s", fstype) != 1) continue;
    if (skipped_fs(fstype)) continue;
    unescape(mnt);
    if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM,
                      AT_FDCWD, mnt) == 0) marked++;
    else fprintf(stderr, "fanotify helper: not marked %s (%s): %s\n", mnt, fstype, strerror(errno));
  }
  fclose(f);
  return marked;
}

/* One fanotify event: allow at once, deny when full, or report it and keep it pending. */
static void on_event(const struct fanotify_event_metadata *m) {
  struct stat st;
  if (m->fd < 0) return; /* queue overflow notice: no fd to answer */
  if (fstat(m->fd, &st) != 0 || !S_ISREG(st.st_mode) || (pid_t)m->pid == getppid()) {
    /* Not a regular file, or the parent re-opening a file to measure it (/proc/<us>/fd/N). */
    respond(m->fd, FAN_ALLOW);
    return;
  }
  struct key k = key_of(&st);
  if (memcmp(&cache[slot_of(&k)], &k, sizeof k) == 0) { respond(m->fd, FAN_ALLOW); return; }
  if (npend == MAX_PENDING) {
    fprintf(stderr, "fanotify helper: %d opens pending, denying one\n", MAX_PENDING);
    respond(m->fd, FAN_DENY);
    return;
  }
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
  ssize_t n = readlink(link, path, sizeof path);
  if (n < 0) n = 0;
  if (skip_len > 0 && (size_t)n > skip_len && memcmp(path, skip_dir, skip_len) == 0 && path[skip_len] == '/') {
    respond(m->fd, FAN_ALLOW);
    return;
  }
  uint64_t seq = next_seq++;
  pend[npend++] = (struct pending){ seq, m->fd, k };
  printf("M %llu %d %d %c ", (unsigned long long)seq, m->fd, (int)m->pid,
         (m->mask & FAN_OPEN_EXEC_PERM) ? 'x' : 'o');
  for (ssize_t i = 0; i < n; i++) printf("%02x", (unsigned char)path[i]);
  if (n == 0) putchar('-');
  putchar('\n');
}

/* One answer line from the parent: allow that open and cache the file as measured. */
static void on_answer(const char *line) {
  uint64_t seq = strtoull(line, NULL, 10);
  for (int i = 0; i < npend; i++) {
    if (pend[i].seq != seq) continue;
    cache[slot_of(&pend[i].key)] = pend[i].key;
    respond(pend[i].fd, FAN_ALLOW);
    pend[i] = pend[--npend];
    return;
  }
  fprintf(stderr, "fanotify helper: answer for unknown sequence %s\n", line);
}

int main(int argc, char **argv) {
  if (argc > 1) { skip_dir = argv[1]; skip_len = strlen(skip_dir); }
  signal(SIGPIPE, SIG_IGN); /* a dead parent shows as a write error, handled below */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
  if (fan_fd < 0) die(2, "fanotify_init");

  /* The namespace holder: a child in a new mount namespace, private, that only waits. */
  int ready[2];
  if (pipe(ready) != 0) die(3, "pipe");
  pid_t holder = fork();
  if (holder < 0) die(3, "fork");
  if (holder == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fan_fd);
    if (unshare(CLONE_NEWNS) != 0) die(3, "unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die(3, "make / private");
    if (write(ready[1], "1", 1) != 1) _exit(3);
    for (;;) pause();
  }
  close(ready[1]);
  char b;
  if (read(ready[0], &b, 1) != 1) { errno = ECHILD; die(3, "namespace holder died"); }
  close(ready[0]);

  /* Mark the namespace's own copies of the mounts, from inside it, then come back out. */
  char nspath[64];
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/mnt", (int)holder);
  int ours = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int theirs = open(nspath, O_RDONLY | O_CLOEXEC);
  if (ours < 0 || theirs < 0) die(3, "open ns/mnt");
  if (setns(theirs, CLONE_NEWNS) != 0) die(3, "setns into the simulated host");
  int marked = mark_mounts();
  if (setns(ours, CLONE_NEWNS) != 0) die(3, "setns back");
  close(ours);
  close(theirs);
  if (marked == 0) { errno = ENOENT; die(3, "no mount marked"); }
  printf("READY %d\n", (int)holder);
  fflush(stdout);

  char in[4096];
  size_t inlen = 0;
  char buf[64 * 1024] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
  for (;;) {
    struct pollfd p[2] = { { fan_fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; die(1, "poll"); }
    if (p[0].revents & POLLIN) {
      ssize_t len = read(fan_fd, buf, sizeof buf);
      if (len < 0 && errno != EINTR && errno != EAGAIN) die(1, "read fanotify");
      const struct fanotify_event_metadata *m = (const void *)buf;
      for (; len > 0 && FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) on_event(m);
      if (fflush(stdout) != 0) return 0; /* the parent is gone */
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, in + inlen, sizeof in - 1 - inlen);
      if (n <= 0) return 0; /* EOF: exit; the kernel allows what is pending */
      inlen += (size_t)n;
      char *nl;
      while ((nl = memchr(in, '\n', inlen)) != NULL) {
        *nl = 0;
        on_answer(in);
        inlen -= (size_t)(nl + 1 - in);
        memmove(in, nl + 1, inlen);
      }
      if (inlen == sizeof in - 1) inlen = 0; /* a line that long is no answer: drop it */
    }
  }
}
