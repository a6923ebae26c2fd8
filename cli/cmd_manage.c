/* donjon pause|resume|ps|update: thin commands over sandbox/state.h (docs/lifecycle.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd_lifecycle.h"
#include "common/json.h"
#include "common/util.h"
#include "sandbox/container.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"

/* ID as the only argument (and --help). Returns -1 to go on, else the exit status. */
static int one_id(const char *cmd, const char *what, int argc, char **argv, const char **id)
{
  static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
  int c;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    if (c == 'h') {
      printf("Usage: donjon %s ID\n\n%s\n", cmd, what);
      return 0;
    }
    return dj_cli_usage(cmd, "unknown option");
  }
  if (optind != argc - 1)
    return dj_cli_usage(cmd, "expects exactly one container ID");
  *id = argv[optind];
  return -1;
}

static int pause_or_resume(struct dj_cli *cli, int argc, char **argv, bool pause)
{
  const char *cmd = pause ? "pause" : "resume", *id = NULL;
  int rc = one_id(cmd, pause ? "Freeze every process of the container (v1 freezer, v2 cgroup.freeze)."
                             : "Thaw a paused container.", argc, argv, &id);
  if (rc >= 0)
    return rc;
  dj_err err = { 0 };
  if (dj_container_id_check(id, &err) < 0 || dj_container_pause(cli->root, id, pause, &err) < 0) {
    dj_err_wrap(&err, "%s %s", cmd, id);
    return dj_cli_fail(&err);
  }
  return 0;
}

int dj_cmd_pause(struct dj_cli *cli, int argc, char **argv)
{
  return pause_or_resume(cli, argc, argv, true);
}

int dj_cmd_resume(struct dj_cli *cli, int argc, char **argv)
{
  return pause_or_resume(cli, argc, argv, false);
}

int dj_cmd_ps(struct dj_cli *cli, int argc, char **argv)
{
  static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' },
                                        { 0 } };
  bool json = false;
  int c;
  while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      if (strcmp(optarg, "json") == 0)
        json = true;
      else if (strcmp(optarg, "table") != 0)
        return dj_cli_usage("ps", "--format: \"%s\" is not table or json", optarg);
      break;
    case 'h': printf("Usage: donjon ps [--format table|json] ID\n\nThe processes of the container's cgroup.\n"); return 0;
    default: return dj_cli_usage("ps", "unknown option");
    }
  }
  if (optind != argc - 1)
    return dj_cli_usage("ps", "expects exactly one container ID");
  const char *id = argv[optind];
  dj_err err = { 0 };
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (dj_container_id_check(id, &err) < 0 || dj_container_pids(cli->root, id, &pids, &n, &err) < 0) {
    dj_err_wrap(&err, "ps %s", id);
    return dj_cli_fail(&err);
  }
  if (json) {
    /* runc's format: a JSON array of host pids */
    printf("[");
    for (size_t i = 0; i < n; i++)
      printf("%s%d", i ? "," : "", (int) pids[i]);
    printf("]\n");
    return 0;
  }
  printf("%-8s %s\n", "PID", "CMD");
  for (size_t i = 0; i < n; i++) {
    char path[64], cmdline[4096] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pids[i]);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;
    for (ssize_t k = 0; k < len - 1; k++)
      if (cmdline[k] == '\0')
        cmdline[k] = ' ';
    if (len > 0)
      cmdline[len] = '\0';
    printf("%-8d %s\n", (int) pids[i], cmdline);
  }
  return 0;
}

/* "512m", "1G", "1048576", "-1" (memory values, as runc and docker write them) */
static int parse_bytes(const char *s, int64_t *out)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s)
    return -1;
  int64_t mul = 1;
  if (*end != '\0') {
    switch (*end | 0x20) {
    case 'k': mul = 1LL << 10; break;
    case 'm': mul = 1LL << 20; break;
    case 'g': mul = 1LL << 30; break;
    case 't': mul = 1LL << 40; break;
    default: return -1;
    }
    end++;
    if ((*end | 0x20) == 'b')
      end++;
    if (*end != '\0' || v < 0)
      return -1;
  }
  if (v > 0 && v > INT64_MAX / mul)
    return -1;
  *out = v * mul;
  return 0;
}

static void set_path(json_t *res, const char *group, const char *key, json_t *v)
{
  json_t *g = json_object_get(res, group);
  if (!json_is_object(g)) {
    g = json_object();
    json_object_set_new(res, group, g);
  }
  json_object_set_new(g, key, v);
}

static void update_usage(FILE *out)
{
  fprintf(out,
          "Usage: donjon update [OPTIONS] ID\n\n"
          "Change the resources of a created, running or paused container; only what is given changes.\n\n"
          "  -r, --resources FILE|-     a linux.resources JSON object (- : stdin), as go-runc and CRI-O pass it\n"
          "      --memory BYTES         memory limit (k, m, g suffixes; -1: unlimited)\n"
          "      --memory-swap BYTES    memory + swap limit\n"
          "      --memory-reservation BYTES  soft limit\n"
          "      --pids-limit N         maximum number of processes (-1: unlimited)\n"
          "      --cpu-shares N, --cpu-quota N, --cpu-period N, --cpu-rt-runtime N, --cpu-rt-period N\n"
          "      --cpuset-cpus LIST, --cpuset-mems LIST\n"
          "      --blkio-weight N       10..1000\n"
          "  -h, --help                 print this help\n"
          "The flags apply on top of --resources. Device rules cannot be changed.\n");
}

int dj_cmd_update(struct dj_cli *cli, int argc, char **argv)
{
  enum { O_MEM = 256, O_SWAP, O_RES, O_PIDS, O_SHARES, O_QUOTA, O_PERIOD, O_RT_RUNTIME, O_RT_PERIOD, O_CPUS, O_MEMS,
         O_BLKIO, O_KMEM };
  static const struct option opts[] = {
    { "resources", required_argument, NULL, 'r' },      { "memory", required_argument, NULL, O_MEM },
    { "memory-swap", required_argument, NULL, O_SWAP }, { "memory-reservation", required_argument, NULL, O_RES },
    { "kernel-memory", required_argument, NULL, O_KMEM }, { "kernel-memory-tcp", required_argument, NULL, O_KMEM },
    { "pids-limit", required_argument, NULL, O_PIDS },  { "cpu-shares", required_argument, NULL, O_SHARES },
    { "cpu-quota", required_argument, NULL, O_QUOTA },  { "cpu-period", required_argument, NULL, O_PERIOD },
    { "cpu-rt-runtime", required_argument, NULL, O_RT_RUNTIME }, { "cpu-rt-period", required_argument, NULL, O_RT_PERIOD },
    { "cpuset-cpus", required_argument, NULL, O_CPUS }, { "cpuset-mems", required_argument, NULL, O_MEMS },
    { "blkio-weight", required_argument, NULL, O_BLKIO }, { "help", no_argument, NULL, 'h' }, { 0 },
  };
  static const struct { int opt; const char *group, *key; bool bytes; } numeric[] = {
    { O_MEM, "memory", "limit", true },        { O_SWAP, "memory", "swap", true },
    { O_RES, "memory", "reservation", true },  { O_PIDS, "pids", "limit", false },
    { O_SHARES, "cpu", "shares", false },      { O_QUOTA, "cpu", "quota", false },
    { O_PERIOD, "cpu", "period", false },      { O_RT_RUNTIME, "cpu", "realtimeRuntime", false },
    { O_RT_PERIOD, "cpu", "realtimePeriod", false }, { O_BLKIO, "blockIO", "weight", false },
  };
  const char *file = NULL;
  _cleanup_json_ json_t *flags = json_object();
  int c;
  while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
    if (c == 'r') {
      file = optarg;
      continue;
    }
    if (c == 'h') {
      update_usage(stdout);
      return 0;
    }
    if (c == O_KMEM)
      return dj_cli_usage("update", "kernel memory limits are not supported (deprecated by the kernel)");
    if (c == O_CPUS || c == O_MEMS) {
      set_path(flags, "cpu", c == O_CPUS ? "cpus" : "mems", json_string(optarg));
      continue;
    }
    size_t i = 0;
    while (i < DJ_ARRAY_SIZE(numeric) && numeric[i].opt != c)
      i++;
    if (i == DJ_ARRAY_SIZE(numeric))
      return dj_cli_usage("update", "unknown option");
    int64_t v;
    if ((numeric[i].bytes ? parse_bytes(optarg, &v) : dj_parse_i64(optarg, &v)) < 0) {
      const char *name = "";
      for (const struct option *o = opts; o->name != NULL; o++)
        if (o->val == c)
          name = o->name;
      return dj_cli_usage("update", "--%s: \"%s\" is not a number", name, optarg);
    }
    set_path(flags, numeric[i].group, numeric[i].key, json_integer(v));
  }
  if (optind != argc - 1)
    return dj_cli_usage("update", "expects exactly one container ID");
  const char *id = argv[optind];
  dj_err err = { 0 };
  _cleanup_json_ json_t *res = NULL;
  if (file != NULL) {
    int rc = strcmp(file, "-") == 0 ? dj_json_load_fd(STDIN_FILENO, 1 << 20, &res, &err)
                                    : dj_json_load_file(file, 1 << 20, &res, &err);
    if (rc < 0) {
      dj_err_wrap(&err, "update %s: --resources %s", id, file);
      return dj_cli_fail(&err);
    }
    if (!json_is_object(res)) {
      dj_error(&err, 0, "update %s: --resources %s: expected a linux.resources object", id, file);
      return dj_cli_fail(&err);
    }
  } else {
    res = json_object();
  }
  /* the flags win over the file, group by group */
  const char *group;
  json_t *g;
  json_object_foreach(flags, group, g) {
    json_t *dst = json_object_get(res, group);
    if (json_is_object(dst))
      json_object_update(dst, g);
    else
      json_object_set(res, group, g);
  }
  if (dj_container_id_check(id, &err) < 0 || dj_container_update(cli->root, id, res, &err) < 0) {
    dj_err_wrap(&err, "update %s", id);
    return dj_cli_fail(&err);
  }
  return 0;
}
