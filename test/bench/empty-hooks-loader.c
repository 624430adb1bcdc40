// Loads a BPF object and attaches every program in it by its section name (libbpf's auto-attach), then holds the
// links until its stdin reaches EOF. The overhead bench uses it to attach the collector's hooks with empty programs
// (test/bench/empty-hooks.ts); compiled at bench time into build/bench/empty-hooks-loader.
//
//   empty-hooks-loader OBJECT
//
// Prints "attached N" on stdout once every program is attached. Holding the links only while stdin is open means
// the hooks go away with the bench, however it ends: its death closes the pipe, and the kernel closes our fds.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 1024

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list args) {
  return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: empty-hooks-loader OBJECT\n");
    return 2;
  }
  libbpf_set_print(print_warnings);
  struct bpf_link *links[MAX_LINKS];
  int n = 0;
  int rc = 1;
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (obj == NULL) {
    fprintf(stderr, "empty-hooks-loader: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  if (bpf_object__load(obj) != 0) {
    fprintf(stderr, "empty-hooks-loader: load %s: %s\n", argv[1], strerror(errno));
    goto out;
  }
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    if (n == MAX_LINKS) {
      fprintf(stderr, "empty-hooks-loader: more than %d programs\n", MAX_LINKS);
      goto out;
    }
    links[n] = bpf_program__attach(prog);
    if (links[n] == NULL) {
      fprintf(stderr, "empty-hooks-loader: attach %s: %s\n", bpf_program__section_name(prog), strerror(errno));
      goto out;
    }
    n++;
  }
  printf("attached %d\n", n);
  fflush(stdout);
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {}
  rc = 0;
out:
  while (n > 0) bpf_link__destroy(links[--n]);
  bpf_object__close(obj);
  return rc;
}
