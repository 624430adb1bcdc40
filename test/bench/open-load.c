// The benchmark's load generator: COUNT openat+close pairs, cycling through the given paths in order, as fast as
// possible (RATE 0) or paced to RATE opens per second on an absolute schedule (a late open does not shift the later
// ones). Compiled at bench time by test/bench/open-load.ts into build/bench/open-load.
//
//   open-load [--cgroup DIR] COUNT RATE PATH [PATH...]
//
// --cgroup moves the process into DIR (a cgroup v2 directory) first, so every open is attributed to that cgroup.
// On success prints one JSON line: {"pid", "opens", "failed", "start_ns", "end_ns", "cpu_ns"}; the times are
// CLOCK_MONOTONIC, the clock Node's process.hrtime.bigint() reads, so the caller can line them up with its own.
// cpu_ns is the loop's own user+system CPU time: wall time minus it is time the load spent not running (preempted).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void sleep_until(uint64_t t) {
  struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull) };
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static int join_cgroup(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  int ok = fprintf(f, "%d\n", (int)getpid()) > 0;
  // The kernel moves the process on write(): a failed move shows up at fclose, not at fprintf.
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  int arg = 1;
  if (argc > 2 && strcmp(argv[1], "--cgroup") == 0) {
    if (join_cgroup(argv[2]) != 0) {
      fprintf(stderr, "open-load: cannot join cgroup %s: %s\n", argv[2], strerror(errno));
      return 2;
    }
    arg = 3;
  }
  if (argc - arg < 3) {
    fprintf(stderr, "usage: open-load [--cgroup DIR] COUNT RATE PATH [PATH...]\n");
    return 2;
  }
  const long long count = atoll(argv[arg]);
  const double rate = atof(argv[arg + 1]);
  char **paths = &argv[arg + 2];
  const int npaths = argc - arg - 2;
  long long failed = 0;

  const uint64_t cpu_start = cpu_ns();
  const uint64_t start = now_ns();
  for (long long i = 0; i < count; i++) {
    if (rate > 0) {
      const uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
      if (now_ns() < due) sleep_until(due);
    }
    const int fd = openat(AT_FDCWD, paths[i % npaths], O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    else failed++;
  }
  const uint64_t end = now_ns();
  const uint64_t cpu_end = cpu_ns();
  printf("{\"pid\":%d,\"opens\":%lld,\"failed\":%lld,\"start_ns\":%llu,\"end_ns\":%llu,\"cpu_ns\":%llu}\n", (int)getpid(),
         count, failed, (unsigned long long)start, (unsigned long long)end, (unsigned long long)(cpu_end - cpu_start));
  return 0;
}
