/* donjon spec [--rootless] [--profile default|confidential] [--bundle DIR] */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/util.h"
#include "sandbox/profile.h"

static void spec_usage(FILE *out)
{
  fprintf(out,
          "Usage: donjon spec [OPTIONS]\n"
          "\n"
          "Write a config.json for a bundle whose root filesystem is DIR/rootfs. It is never\n"
          "overwritten: remove an existing one first.\n"
          "\n"
          "  -b, --bundle DIR       where to write config.json (default: .)\n"
          "      --profile NAME     default: what 'runc spec' writes;\n"
          "                         confidential: the tenant jail (user namespace mapped to host ids\n"
          "                         100000-165535, no capability, no_new_privs, read-only root, masked\n"
          "                         /proc, device allowlist, memory and pids limits, seccomp filter);\n"
          "                         see docs/runtime-spec.md\n"
          "      --rootless         the default profile for an unprivileged user (as 'runc spec\n"
          "                         --rootless')\n"
          "  -h, --help             print this help\n");
}

/* Write data to dir/config.json atomically, never replacing an existing file. */
static int write_new_file(const char *dir, const char *data, dj_err *err)
{
  char path[PATH_MAX], tmp[PATH_MAX];
  struct stat st;
  if ((size_t) snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path ||
      (size_t) snprintf(tmp, sizeof tmp, "%s/.config.json.tmp-XXXXXX", dir) >= sizeof tmp)
    return dj_error(err, ENAMETOOLONG, "%s", dir);
  if (lstat(path, &st) == 0)
    return dj_error(err, 0, "%s exists; remove it first", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "%s: create a temporary file", dir);
  int r = fchmod(fd, 0644) < 0 || dj_write_all(fd, data, strlen(data)) < 0 || fsync(fd) < 0 ? -1 : 0;
  int e = errno;
  if (close(fd) < 0 && r == 0) {
    r = -1;
    e = errno;
  }
  if (r < 0) {
    unlink(tmp);
    return dj_error(err, e, "%s: write", tmp);
  }
  /* RENAME_NOREPLACE: atomic, and a file that appeared meanwhile is not replaced */
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
    return 0;
  e = errno;
  if (e == EINVAL || e == ENOSYS) { /* a filesystem without it: link(2) does not replace either */
    e = link(tmp, path) == 0 ? 0 : errno;
    unlink(tmp);
    if (e == 0)
      return 0;
  } else {
    unlink(tmp);
  }
  if (e == EEXIST)
    return dj_error(err, 0, "%s exists; remove it first", path);
  return dj_error(err, e, "%s: move into place", path);
}

int dj_cmd_spec(struct dj_cli *cli, int argc, char **argv)
{
  (void) cli;
  enum { OPT_ROOTLESS = 256, OPT_PROFILE };
  static const struct option opts[] = {
    { "bundle", required_argument, NULL, 'b' },
    { "profile", required_argument, NULL, OPT_PROFILE },
    { "rootless", no_argument, NULL, OPT_ROOTLESS },
    { "help", no_argument, NULL, 'h' },
    { 0 },
  };
  const char *bundle = ".", *profile = "default";
  bool rootless = false;
  int c;
  while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': bundle = optarg; break;
    case OPT_PROFILE: profile = optarg; break;
    case OPT_ROOTLESS: rootless = true; break;
    case 'h': spec_usage(stdout); return 0;
    default: return dj_cli_usage("spec", "unknown option");
    }
  }
  if (optind != argc)
    return dj_cli_usage("spec", "takes no arguments (unexpected \"%s\")", argv[optind]);

  dj_err err = { 0 };
  _cleanup_json_ json_t *doc = NULL;
  if (strcmp(profile, "default") == 0) {
    doc = dj_profile_default(rootless);
  } else if (strcmp(profile, "confidential") == 0) {
    if (rootless)
      return dj_cli_usage("spec", "--rootless applies to the default profile only (the confidential one maps "
                                  "container root to host ids %u-%u, which needs root)",
                          DJ_PROFILE_HOST_ID_BASE, DJ_PROFILE_HOST_ID_BASE + DJ_PROFILE_ID_RANGE - 1);
    doc = dj_profile_confidential();
    if (doc == NULL) {
      dj_error(&err, 0, "spec: the confidential profile's seccomp filter is not available");
      return dj_cli_fail(&err);
    }
  } else {
    return dj_cli_usage("spec", "--profile: unknown profile \"%s\" (default or confidential)", profile);
  }
  _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2));
  if (text == NULL) {
    dj_error(&err, ENOMEM, "spec: serialise config.json");
    return dj_cli_fail(&err);
  }
  _cleanup_free_ char *with_nl = dj_xasprintf("%s\n", text);
  if (write_new_file(bundle, with_nl, &err) < 0) {
    dj_err_wrap(&err, "spec");
    return dj_cli_fail(&err);
  }
  return 0;
}
