/* donjon start|state|kill|delete|list: thin commands over sandbox/state.h. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cmd_lifecycle.h"
#include "common/json.h"
#include "common/util.h"
#include "sandbox/container.h"
#include "sandbox/state.h"

static const struct {
  const char *name;
  int sig;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT },   { "ILL", SIGILL },   { "TRAP", SIGTRAP },
  { "ABRT", SIGABRT }, { "IOT", SIGIOT },     { "BUS", SIGBUS },     { "FPE", SIGFPE },   { "KILL", SIGKILL },
  { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },   { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },
  { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },   { "URG", SIGURG },   { "XCPU", SIGXCPU },
  { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
  { "POLL", SIGPOLL }, { "PWR", SIGPWR },     { "SYS", SIGSYS },
};

int dj_signal_parse(const char *s)
{
  uint64_t n;
  if (dj_parse_u64(s, &n) == 0)
    return n >= 1 && n < (uint64_t) NSIG ? (int) n : -1;
  if (strncasecmp(s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(signals); i++)
    if (strcasecmp(s, signals[i].name) == 0)
      return signals[i].sig;
  /* RTMIN+N / RTMAX-N as runc accepts them */
  if (strncasecmp(s, "RTMIN+", 6) == 0 && dj_parse_u64(s + 6, &n) == 0 && SIGRTMIN + (int64_t) n <= SIGRTMAX)
    return SIGRTMIN + (int) n;
  if (strncasecmp(s, "RTMAX-", 6) == 0 && dj_parse_u64(s + 6, &n) == 0 && SIGRTMAX - (int64_t) n >= SIGRTMIN)
    return SIGRTMAX - (int) n;
  return -1;
}

/* Parse "[--force|--all|--format F] ID [ARG]"-style arguments common to these commands. */
struct args {
  bool force, all, json;
  const char *id, *extra;
};

static int parse(const char *cmd, const char *usage, int argc, char **argv, int max_pos, struct args *a)
{
  static const struct option opts[] = {
    { "force", no_argument, NULL, 'f' }, { "all", no_argument, NULL, 'a' },
    { "format", required_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' }, { 0 },
  };
  int c;
  *a = (struct args){ 0 };
  while ((c = getopt_long(argc, argv, "+fah", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      if (strcmp(cmd, "delete") != 0)
        return dj_cli_usage(cmd, "unknown option --force");
      a->force = true;
      break;
    case 'a':
      if (strcmp(cmd, "kill") != 0)
        return dj_cli_usage(cmd, "unknown option --all");
      a->all = true;
      break;
    case 'F':
      if (strcmp(cmd, "list") != 0)
        return dj_cli_usage(cmd, "unknown option --format");
      if (strcmp(optarg, "json") == 0)
        a->json = true;
      else if (strcmp(optarg, "table") != 0)
        return dj_cli_usage(cmd, "--format: \"%s\" is not table or json", optarg);
      break;
    case 'h': printf("Usage: donjon %s %s\n", cmd, usage); return 0;
    default: return dj_cli_usage(cmd, "unknown option");
    }
  }
  int pos = argc - optind;
  int min_pos = max_pos == 0 ? 0 : 1;
  if (pos < min_pos || pos > max_pos)
    return dj_cli_usage(cmd, "usage: donjon %s %s", cmd, usage);
  if (pos >= 1)
    a->id = argv[optind];
  if (pos >= 2)
    a->extra = argv[optind + 1];
  return -1; /* go on */
}

static int fail(dj_err *err, const char *cmd, const char *id)
{
  dj_err_wrap(err, "%s %s", cmd, id);
  return dj_cli_fail(err);
}

int dj_cmd_start(struct dj_cli *cli, int argc, char **argv)
{
  struct args a;
  int rc = parse("start", "ID", argc, argv, 1, &a);
  if (rc >= 0)
    return rc;
  dj_err err = { 0 };
  if (dj_container_id_check(a.id, &err) < 0 || dj_container_start(cli->root, a.id, &err) < 0)
    return fail(&err, "start", a.id);
  return 0;
}

int dj_cmd_state(struct dj_cli *cli, int argc, char **argv)
{
  struct args a;
  int rc = parse("state", "ID", argc, argv, 1, &a);
  if (rc >= 0)
    return rc;
  dj_err err = { 0 };
  _cleanup_json_ json_t *st = NULL;
  if (dj_container_id_check(a.id, &err) < 0 || dj_container_state(cli->root, a.id, &st, &err) < 0)
    return fail(&err, "state", a.id);
  _cleanup_free_ char *text = json_dumps(st, JSON_INDENT(2));
  printf("%s\n", text);
  return 0;
}

int dj_cmd_kill(struct dj_cli *cli, int argc, char **argv)
{
  struct args a;
  int rc = parse("kill", "[--all] ID [SIGNAL]  (SIGNAL: a name as KILL or SIGKILL, or a number; default TERM)",
                 argc, argv, 2, &a);
  if (rc >= 0)
    return rc;
  int sig = SIGTERM;
  if (a.extra != NULL && (sig = dj_signal_parse(a.extra)) < 0)
    return dj_cli_usage("kill", "unknown signal \"%s\"", a.extra);
  dj_err err = { 0 };
  if (dj_container_id_check(a.id, &err) < 0 || dj_container_kill(cli->root, a.id, sig, a.all, &err) < 0)
    return fail(&err, "kill", a.id);
  return 0;
}

int dj_cmd_delete(struct dj_cli *cli, int argc, char **argv)
{
  struct args a;
  int rc = parse("delete", "[--force] ID", argc, argv, 1, &a);
  if (rc >= 0)
    return rc;
  dj_err err = { 0 };
  if (dj_container_id_check(a.id, &err) < 0 || dj_container_delete(cli->root, a.id, a.force, &err) < 0)
    return fail(&err, "delete", a.id);
  return 0;
}

int dj_cmd_list(struct dj_cli *cli, int argc, char **argv)
{
  struct args a;
  int rc = parse("list", "[--format table|json]", argc, argv, 0, &a);
  if (rc >= 0)
    return rc;
  dj_err err = { 0 };
  _cleanup_json_ json_t *list = NULL;
  if (dj_container_list(cli->root, &list, &err) < 0) {
    dj_err_wrap(&err, "list");
    return dj_cli_fail(&err);
  }
  if (a.json) {
    _cleanup_free_ char *text = json_dumps(list, JSON_COMPACT);
    printf("%s\n", text);
    return 0;
  }
  printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
  size_t i;
  json_t *st;
  json_array_foreach(list, i, st) {
    const char *created = json_string_value(json_object_get(st, "created"));
    printf("%-20s %-8lld %-10s %-40s %s\n", json_string_value(json_object_get(st, "id")),
           (long long) json_integer_value(json_object_get(st, "pid")),
           json_string_value(json_object_get(st, "status")), json_string_value(json_object_get(st, "bundle")),
           created != NULL ? created : "");
  }
  return 0;
}
