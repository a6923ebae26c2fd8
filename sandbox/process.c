#include "sandbox/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"
#include "sandbox/rootfs.h"

static bool have_cap(cap_value_t cap)
{
  cap_t c = cap_get_proc();
  cap_flag_value_t v = CAP_CLEAR;
  if (c != NULL) {
    cap_get_flag(c, cap, CAP_EFFECTIVE, &v);
    cap_free(c);
  }
  return v == CAP_SET;
}

static void fmt_limit(char *buf, size_t n, uint64_t v)
{
  if (v == (uint64_t) RLIM_INFINITY)
    snprintf(buf, n, "unlimited");
  else
    snprintf(buf, n, "%llu", (unsigned long long) v);
}

/* fs.nr_open: no process, CAP_SYS_RESOURCE or not, gets an RLIMIT_NOFILE above it. */
static uint64_t nr_open(void)
{
  char buf[32] = { 0 };
  _cleanup_close_ int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
    return (uint64_t) RLIM_INFINITY; /* unknown: setrlimit in the init still says no */
  return strtoull(buf, NULL, 10);
}

int dj_rlimits_check(const struct dj_process *p, dj_err *err)
{
  bool can_raise = p->n_rlimits > 0 && have_cap(CAP_SYS_RESOURCE);
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct dj_rlimit *r = &p->rlimits[i];
    struct rlimit host;
    if (getrlimit(r->resource, &host) < 0)
      return dj_error(err, errno, "process.rlimits[%zu]: %s: getrlimit", i, r->name);
    char asked_s[32], asked_h[32], host_h[32];
    fmt_limit(asked_s, sizeof asked_s, r->soft);
    fmt_limit(asked_h, sizeof asked_h, r->hard);
    if (!can_raise && r->hard > (uint64_t) host.rlim_max) {
      fmt_limit(host_h, sizeof host_h, host.rlim_max);
      return dj_error(err, 0,
                      "process.rlimits[%zu]: %s: asked soft %s hard %s, above this host's hard limit %s "
                      "(raising it needs CAP_SYS_RESOURCE; the spec forbids lowering it silently)",
                      i, r->name, asked_s, asked_h, host_h);
    }
    uint64_t most = r->resource == RLIMIT_NOFILE ? nr_open() : (uint64_t) RLIM_INFINITY;
    if (r->hard > most) {
      fmt_limit(host_h, sizeof host_h, most);
      return dj_error(err, 0,
                      "process.rlimits[%zu]: %s: asked soft %s hard %s, above this host's hard limit %s "
                      "(fs.nr_open: no process can have more; the spec forbids lowering it silently)",
                      i, r->name, asked_s, asked_h, host_h);
    }
  }
  return 0;
}

int dj_rlimits_apply(const struct dj_process *p, dj_err *err)
{
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct dj_rlimit *r = &p->rlimits[i];
    struct rlimit rl = { .rlim_cur = r->soft, .rlim_max = r->hard };
    if (setrlimit(r->resource, &rl) < 0) {
      struct rlimit host = { 0 };
      getrlimit(r->resource, &host);
      char hs[32];
      fmt_limit(hs, sizeof hs, host.rlim_max);
      return dj_error(err, errno, "setrlimit %s soft %llu hard %llu (host hard limit %s)", r->name,
                      (unsigned long long) r->soft, (unsigned long long) r->hard, hs);
    }
  }
  return 0;
}

static bool lsm_enabled(const char *name)
{
  char buf[512] = { 0 };
  _cleanup_close_ int fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf - 1) < 0)
    return false;
  for (char *s = strtok(buf, ",\n"); s != NULL; s = strtok(NULL, ",\n"))
    if (strcmp(s, name) == 0)
      return true;
  return false;
}

static bool set(const char *s)
{
  return s != NULL && *s != '\0';
}

int dj_lsm_check(const struct dj_spec *spec, dj_err *err)
{
  if (set(spec->process.apparmor_profile) && !lsm_enabled("apparmor"))
    return dj_error(err, 0, "process.apparmorProfile: \"%s\" asked, but AppArmor is not enabled on this host "
                            "(not in /sys/kernel/security/lsm)", spec->process.apparmor_profile);
  if (set(spec->process.selinux_label) && !lsm_enabled("selinux"))
    return dj_error(err, 0, "process.selinuxLabel: \"%s\" asked, but SELinux is not enabled on this host "
                            "(not in /sys/kernel/security/lsm)", spec->process.selinux_label);
  /* It would be the context= option of every mount donjon makes; refused rather than ignored. */
  if (set(spec->mount_label))
    return dj_error(err, 0, "linux.mountLabel: \"%s\": donjon does not label mounts", spec->mount_label);
  return 0;
}

bool dj_lsm_wanted(const struct dj_process *p)
{
  return set(p->apparmor_profile) || set(p->selinux_label);
}

int dj_lsm_label_exec(const struct dj_process *p, int procfs_fd, dj_attr_write_fn write_attr, dj_err *err)
{
  if (set(p->apparmor_profile)) {
    /* AppArmor's own directory since Linux 5.8 (attr/exec may belong to another LSM then). */
    _cleanup_close_ int own = dj_openat2(procfs_fd, "thread-self/attr/apparmor", O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                         RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    char value[4096];
    if ((size_t) snprintf(value, sizeof value, "exec %s", p->apparmor_profile) >= sizeof value)
      return dj_error(err, ENAMETOOLONG, "process.apparmorProfile");
    if (write_attr(procfs_fd, own >= 0 ? "thread-self/attr/apparmor/exec" : "thread-self/attr/exec", value, err) < 0)
      return dj_err_wrap(err, "process.apparmorProfile \"%s\"", p->apparmor_profile);
  }
  if (set(p->selinux_label) && write_attr(procfs_fd, "thread-self/attr/exec", p->selinux_label, err) < 0)
    return dj_err_wrap(err, "process.selinuxLabel \"%s\"", p->selinux_label);
  return 0;
}

int dj_caps_drop_bounding(const struct dj_caps *caps, dj_err *err)
{
  int last = (int) cap_max_bits() - 1;
  for (int c = 0; c <= last; c++) {
    if (c < 64 && (caps->bounding & (1ULL << c)))
      continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return dj_error(err, errno, "drop capability %d from the bounding set", c);
  }
  return 0;
}

int dj_user_apply(const struct dj_process *p, dj_err *err)
{
  /* Keep the permitted set across the uid change; dj_caps_apply sets the final sets. */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return dj_error(err, errno, "prctl PR_SET_KEEPCAPS");
  if (setgroups(p->n_additional_gids, p->additional_gids) < 0 &&
      !(errno == EPERM && p->n_additional_gids == 0))
    return dj_error(err, errno, "setgroups (%zu additional gids)", p->n_additional_gids);
  if (setresgid(p->gid, p->gid, p->gid) < 0)
    return dj_error(err, errno, "setresgid %u", (unsigned) p->gid);
  if (setresuid(p->uid, p->uid, p->uid) < 0)
    return dj_error(err, errno, "setresuid %u", (unsigned) p->uid);
  if (p->has_umask)
    umask(p->umask);
  return 0;
}

int dj_caps_apply(const struct dj_caps *caps, dj_err *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = { 0 };
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t) (caps->effective >> (32 * i));
    data[i].permitted = (uint32_t) (caps->permitted >> (32 * i));
    data[i].inheritable = (uint32_t) (caps->inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0)
    return dj_error(err, errno, "capset (effective %#llx permitted %#llx inheritable %#llx)",
                    (unsigned long long) caps->effective, (unsigned long long) caps->permitted,
                    (unsigned long long) caps->inheritable);
  if (cap_reset_ambient() < 0 && errno != EINVAL)
    return dj_error(err, errno, "clear the ambient capability set");
  for (int c = 0; c < 64; c++) {
    /* The kernel raises an ambient capability only if it is permitted and inheritable; `runc spec`
     * asks for ambient ones it does not make inheritable, and runc and crun skip those. */
    if (!(caps->ambient & caps->inheritable & caps->permitted & (1ULL << c)))
      continue;
    if (cap_set_ambient((cap_value_t) c, CAP_SET) < 0)
      return dj_error(err, errno, "raise ambient capability %s",
                      dj_cap_name(c) ? dj_cap_name(c) : "?");
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return dj_error(err, errno, "prctl PR_SET_KEEPCAPS 0");
  return 0;
}

/* The uid change (keepcaps) cleared the effective set; the permitted one is intact. */
static int raise_effective(dj_err *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = { 0 };
  if (syscall(SYS_capget, &hdr, data) < 0)
    return dj_error(err, errno, "capget");
  for (int i = 0; i < 2; i++)
    data[i].effective = data[i].permitted;
  if (syscall(SYS_capset, &hdr, data) < 0)
    return dj_error(err, errno, "capset: raise the effective set to load the seccomp filter");
  return 0;
}

int dj_process_confine(const struct dj_process *p, scmp_filter_ctx seccomp, dj_err *err)
{
  /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN in effect, which a process user
   * other than root lost at its setresuid (runc loads the filter before the user change instead). */
  if (!p->no_new_privileges && seccomp != NULL && (raise_effective(err) < 0 || dj_seccomp_load(seccomp, err) < 0))
    return -1;
  if (dj_caps_apply(&p->caps, err) < 0)
    return -1;
  if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return dj_error(err, errno, "prctl PR_SET_NO_NEW_PRIVS");
  if (p->no_new_privileges && seccomp != NULL && dj_seccomp_load(seccomp, err) < 0)
    return -1;
  return 0;
}

int dj_fds_cloexec_from(int first, dj_err *err)
{
  if (syscall(SYS_close_range, (unsigned) first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    return dj_error(err, errno, "close_range(%d, ~0, CLOSE_RANGE_CLOEXEC)", first);
  return 0;
}

int dj_cwd_enter(const char *cwd, dj_err *err)
{
  /* "/" is already the container's root, so RESOLVE_IN_ROOT from it confines the lookup. */
  _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return dj_error(err, errno, "open /");
  _cleanup_close_ int fd = dj_openat2(root, cwd, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (fd < 0)
    return dj_error(err, errno, "process.cwd %s", cwd);
  if (fchdir(fd) < 0)
    return dj_error(err, errno, "chdir to process.cwd %s", cwd);
  char buf[4096];
  /* getcwd reports "(unreachable)" (ENOENT) for a directory outside our root. */
  if (getcwd(buf, sizeof buf) == NULL || buf[0] != '/')
    return dj_error(err, errno ? errno : EPERM, "process.cwd %s is outside the container's root", cwd);
  return 0;
}

extern char **environ;

static bool env_named(const char *entry, const char *const *extra)
{
  for (; extra != NULL && *extra != NULL; extra++) {
    size_t k = strcspn(*extra, "=");
    if (strncmp(entry, *extra, k) == 0 && entry[k] == '=')
      return true;
  }
  return false;
}

int dj_process_exec(const struct dj_process *p, const char *const *extra_env, dj_err *err)
{
  size_t n_extra = 0;
  while (extra_env != NULL && extra_env[n_extra] != NULL)
    n_extra++;
  const char **env = dj_xcalloc(p->n_env + n_extra + 1, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < p->n_env; i++)
    if (!env_named(p->env[i], extra_env))
      env[k++] = p->env[i];
  for (size_t i = 0; i < n_extra; i++)
    env[k++] = extra_env[i];
  environ = (char **) env;
  const char *file = p->args[0];
  if (strchr(file, '/') == NULL && getenv("PATH") == NULL)
    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
  execvp(file, (char *const *) p->args);
  return dj_error(err, errno, "exec %s", file);
}
