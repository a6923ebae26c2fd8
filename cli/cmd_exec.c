/* donjon exec [OPTIONS] ID [ARGS...]: a new process in a running container (sandbox/exec.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cmd_lifecycle.h"
#include "common/json.h"
#include "common/util.h"
#include "sandbox/container.h"
#include "sandbox/exec.h"
#include "sandbox/spec.h"

static void exec_usage(FILE *out)
{
  fprintf(out,
          "Usage: donjon exec [OPTIONS] ID [COMMAND [ARGS...]]\n\n"
          "Run a process in a created or running container: it joins every namespace of the container's\n"
          "init, its cgroups and its seccomp filter, with the capabilities and no_new_privs its process\n"
          "asks. Without --process it starts from the container's own process (env, user, cwd, caps)\n"
          "with COMMAND and the flags below. In the foreground donjon exits with its status.\n\n"
          "  -p, --process FILE       the runtime-spec process JSON to run (other process flags ignored)\n"
          "  -t, --tty                give the process a terminal (from the container's devpts)\n"
          "      --console-socket S   send the terminal's master to the unix socket S (SCM_RIGHTS)\n"
          "  -d, --detach             return once the process runs (the caller's subreaper inherits it)\n"
          "      --pid-file FILE      write the process's pid to FILE\n"
          "      --cwd DIR            working directory inside the container\n"
          "  -e, --env K=V            add or replace an environment variable (repeatable)\n"
          "  -u, --user UID[:GID]     numeric user and group inside the container\n"
          "  -g, --additional-gids G  an additional group (repeatable)\n"
          "  -c, --cap CAP            add a capability to every set (repeatable)\n"
          "      --no-new-privs       set no_new_privs\n"
          "      --preserve-fds N     pass fds 3 .. 3+N-1 on to the process\n"
          "      --process-label L, --apparmor P  as runc: refused where the host has no such LSM\n"
          "  -h, --help               print this help\n");
}

static void set_env(json_t *env, const char *kv)
{
  size_t k = strcspn(kv, "=");
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *s = json_string_value(e);
    if (s != NULL && strncmp(s, kv, k) == 0 && s[k] == '=') {
      json_array_set_new(env, i, json_string(kv));
      return;
    }
  }
  json_array_append_new(env, json_string(kv));
}

static int add_cap(json_t *proc, const char *name)
{
  char full[64];
  snprintf(full, sizeof full, "%s%s", strncasecmp(name, "CAP_", 4) == 0 ? "" : "CAP_", name);
  for (char *c = full; *c; c++)
    *c = (char) (*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
  if (dj_cap_from_name(full) < 0)
    return dj_cli_usage("exec", "--cap: unknown capability \"%s\"", name);
  json_t *caps = json_object_get(proc, "capabilities");
  if (!json_is_object(caps)) {
    caps = json_object();
    json_object_set_new(proc, "capabilities", caps);
  }
  static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  for (size_t s = 0; s < DJ_ARRAY_SIZE(sets); s++) {
    json_t *arr = json_object_get(caps, sets[s]);
    if (!json_is_array(arr)) {
      arr = json_array();
      json_object_set_new(caps, sets[s], arr);
    }
    bool present = false;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
      present |= json_is_string(e) && strcmp(json_string_value(e), full) == 0;
    if (!present)
      json_array_append_new(arr, json_string(full));
  }
  return 0;
}

static int set_user(json_t *proc, const char *spec)
{
  char buf[64];
  snprintf(buf, sizeof buf, "%s", spec);
  char *colon = strchr(buf, ':');
  if (colon != NULL)
    *colon = '\0';
  uint64_t uid, gid;
  if (dj_parse_u64(buf, &uid) < 0 || uid > UINT32_MAX ||
      (colon != NULL && (dj_parse_u64(colon + 1, &gid) < 0 || gid > UINT32_MAX)))
    return dj_cli_usage("exec", "--user: \"%s\" is not UID[:GID] (numbers: names are not looked up)", spec);
  json_t *user = json_object_get(proc, "user");
  if (!json_is_object(user)) {
    user = json_object();
    json_object_set_new(proc, "user", user);
  }
  json_object_set_new(user, "uid", json_integer((json_int_t) uid));
  if (colon != NULL)
    json_object_set_new(user, "gid", json_integer((json_int_t) gid));
  return 0;
}

int dj_cmd_exec(struct dj_cli *cli, int argc, char **argv)
{
  enum { OPT_CONSOLE = 256, OPT_PID_FILE, OPT_CWD, OPT_NNP, OPT_PRESERVE, OPT_LABEL, OPT_APPARMOR, OPT_CGROUP,
         OPT_IGNORE_PAUSED };
  static const struct option opts[] = {
    { "process", required_argument, NULL, 'p' },   { "tty", no_argument, NULL, 't' },
    { "console-socket", required_argument, NULL, OPT_CONSOLE }, { "detach", no_argument, NULL, 'd' },
    { "pid-file", required_argument, NULL, OPT_PID_FILE }, { "cwd", required_argument, NULL, OPT_CWD },
    { "env", required_argument, NULL, 'e' },       { "user", required_argument, NULL, 'u' },
    { "additional-gids", required_argument, NULL, 'g' }, { "cap", required_argument, NULL, 'c' },
    { "no-new-privs", no_argument, NULL, OPT_NNP }, { "preserve-fds", required_argument, NULL, OPT_PRESERVE },
    { "process-label", required_argument, NULL, OPT_LABEL }, { "apparmor", required_argument, NULL, OPT_APPARMOR },
    { "cgroup", required_argument, NULL, OPT_CGROUP }, { "ignore-paused", no_argument, NULL, OPT_IGNORE_PAUSED },
    { "help", no_argument, NULL, 'h' },            { 0 },
  };
  struct dj_exec_opts eo = { .state_root = cli->root };
  const char *process_file = NULL, *cwd = NULL;
  bool tty = false, nnp = false;
  _cleanup_json_ json_t *env = json_array(), *caps = json_array(), *gids = json_array();
  const char *user = NULL, *label = NULL, *apparmor = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+p:tde:u:g:c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'p': process_file = optarg; break;
    case 't': tty = true; break;
    case OPT_CONSOLE: eo.console_socket = optarg; break;
    case 'd': eo.detach = true; break;
    case OPT_PID_FILE: eo.pid_file = optarg; break;
    case OPT_CWD: cwd = optarg; break;
    case 'e':
      if (strchr(optarg, '=') == NULL || optarg[0] == '=')
        return dj_cli_usage("exec", "--env: \"%s\" is not NAME=VALUE", optarg);
      json_array_append_new(env, json_string(optarg));
      break;
    case 'u': user = optarg; break;
    case 'g': {
      uint64_t g;
      if (dj_parse_u64(optarg, &g) < 0 || g > UINT32_MAX)
        return dj_cli_usage("exec", "--additional-gids: \"%s\" is not a number", optarg);
      json_array_append_new(gids, json_integer((json_int_t) g));
      break;
    }
    case 'c': json_array_append_new(caps, json_string(optarg)); break;
    case OPT_NNP: nnp = true; break;
    case OPT_PRESERVE: {
      uint64_t n;
      if (dj_parse_u64(optarg, &n) < 0 || n > 1000)
        return dj_cli_usage("exec", "--preserve-fds: \"%s\" is not a number from 0 to 1000", optarg);
      eo.preserve_fds = (int) n;
      break;
    }
    case OPT_LABEL: label = optarg; break;
    case OPT_APPARMOR: apparmor = optarg; break;
    case OPT_CGROUP:
      return dj_cli_usage("exec", "--cgroup: joining a sub-cgroup of the container is not supported; the process "
                                  "joins the container's own cgroups");
    case OPT_IGNORE_PAUSED: break; /* a paused container is refused anyway: its processes could not run */
    case 'h': exec_usage(stdout); return 0;
    default: return dj_cli_usage("exec", "unknown option");
    }
  }
  if (optind >= argc)
    return dj_cli_usage("exec", "expects a container ID");
  eo.id = argv[optind++];
  if (process_file == NULL && optind >= argc)
    return dj_cli_usage("exec", "expects a COMMAND, or --process FILE");
  if (process_file != NULL && optind < argc)
    return dj_cli_usage("exec", "--process and a COMMAND: give one of them");

  dj_err err = { 0 };
  _cleanup_json_ json_t *proc = NULL;
  if (dj_container_id_check(eo.id, &err) < 0)
    return dj_cli_fail(&err);
  if (process_file != NULL) {
    if (dj_json_load_file(process_file, DJ_SPEC_MAX_SIZE, &proc, &err) < 0) {
      dj_err_wrap(&err, "exec %s: --process", eo.id);
      return dj_cli_fail(&err);
    }
  } else {
    if (dj_container_process(cli->root, eo.id, &proc, &err) < 0) {
      dj_err_wrap(&err, "exec %s", eo.id);
      return dj_cli_fail(&err);
    }
    json_t *args = json_array();
    for (int i = optind; i < argc; i++)
      json_array_append_new(args, json_string(argv[i]));
    json_object_set_new(proc, "args", args);
    json_object_set_new(proc, "terminal", json_boolean(tty));
    if (cwd != NULL)
      json_object_set_new(proc, "cwd", json_string(cwd));
    json_t *penv = json_object_get(proc, "env");
    if (!json_is_array(penv)) {
      penv = json_array();
      json_object_set_new(proc, "env", penv);
    }
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
      set_env(penv, json_string_value(e));
    if (user != NULL && set_user(proc, user) != 0)
      return 2;
    if (json_array_size(gids) > 0)
      json_object_set(json_object_get(proc, "user"), "additionalGids", gids);
    json_array_foreach(caps, i, e)
      if (add_cap(proc, json_string_value(e)) != 0)
        return 2;
    if (nnp)
      json_object_set_new(proc, "noNewPrivileges", json_true());
    /* checked as the config's: refused where the host has no such LSM */
    if (label != NULL)
      json_object_set_new(proc, "selinuxLabel", json_string(label));
    if (apparmor != NULL)
      json_object_set_new(proc, "apparmorProfile", json_string(apparmor));
  }
  eo.process = proc;
  /* args[0] only: the rest (and env) may carry secrets */
  const char *arg0 = json_string_value(json_array_get(json_object_get(proc, "args"), 0));
  dj_log_debug("exec %s: %s%s%s", eo.id, arg0 != NULL ? arg0 : "(no args)",
               eo.detach ? ", detached" : "", json_is_true(json_object_get(proc, "terminal")) ? ", with a terminal" : "");
  int status = 0;
  if (dj_container_exec(&eo, &status, &err) < 0) {
    dj_err_wrap(&err, "exec %s", eo.id);
    return dj_cli_fail(&err);
  }
  if (eo.detach)
    dj_log_debug("exec %s: the process runs, detached", eo.id);
  else
    dj_log_debug("exec %s: the process exited with status %d", eo.id, status);
  return status;
}
