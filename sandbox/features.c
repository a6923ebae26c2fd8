#include "sandbox/features.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/util.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

static json_t *names(enum dj_spec_names kind)
{
  json_t *a = json_array();
  for (const char *const *n = dj_spec_names(kind); n != NULL && *n != NULL; n++)
    json_array_append_new(a, json_string(*n));
  return a;
}

/* Does a filter with this architecture or flag build here? (The parser knows more names than a
 * given libseccomp can set.) */
static bool seccomp_builds(const char *arch, const char *flag)
{
  const char *archs[] = { arch, NULL }, *flags[] = { flag, NULL };
  struct dj_seccomp sc = { .default_action = DJ_SCMP_ACT_ALLOW };
  sc.architectures = arch ? archs : (const char *[]){ NULL };
  sc.n_architectures = arch ? 1 : 0;
  sc.flags = flag ? flags : (const char *[]){ NULL };
  sc.n_flags = flag ? 1 : 0;
  scmp_filter_ctx ctx = NULL;
  char **unknown = NULL;
  dj_err err = { 0 };
  int rc = dj_seccomp_build(&sc, &ctx, &unknown, &err);
  if (ctx != NULL)
    seccomp_release(ctx);
  dj_strvfreep(&unknown);
  return rc == 0;
}

static json_t *seccomp_features(void)
{
  json_t *archs = json_array(), *known = names(DJ_NAMES_SECCOMP_FLAGS), *supported = json_array();
  for (const char *const *a = dj_spec_names(DJ_NAMES_SECCOMP_ARCHS); *a != NULL; a++)
    if (seccomp_builds(*a, NULL))
      json_array_append_new(archs, json_string(*a));
  for (const char *const *f = dj_spec_names(DJ_NAMES_SECCOMP_FLAGS); *f != NULL; f++)
    if (seccomp_builds(NULL, *f))
      json_array_append_new(supported, json_string(*f));
  return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "enabled", 1, "actions", names(DJ_NAMES_SECCOMP_ACTIONS),
                   "operators", names(DJ_NAMES_SECCOMP_OPS), "archs", archs, "knownFlags", known,
                   "supportedFlags", supported);
}

json_t *dj_features(void)
{
  static const int ns_flags[] = { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWNET,
                                  CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS };
  json_t *ns = json_array(), *caps = json_array();
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ns_flags); i++)
    json_array_append_new(ns, json_string(dj_namespace_name(ns_flags[i])));
  for (int c = 0; c < 64 && dj_cap_name(c) != NULL; c++)
    json_array_append_new(caps, json_string(dj_cap_name(c)));
  /* No systemd cgroup driver (--systemd-cgroup is refused), no rdma controller, no Intel RDT, no
   * id-mapped mounts: the parser refuses them. The AppArmor profile and SELinux process label are
   * written by the init and exec (sandbox/process.h); linux.mountLabel is refused. netDevices is
   * runtime-spec 1.3's: not in a 1.2.0 document. */
  json_t *linux = json_pack("{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:{s:b}}}",
                            "namespaces", ns, "capabilities", caps,
                            "cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0, "rdma", 0,
                            "seccomp", seccomp_features(), "apparmor", "enabled", 1, "selinux", "enabled", 1,
                            "intelRdt", "enabled", 0, "mountExtensions", "idmap", "enabled", 0);
  /* sandbox/hooks.h runs every kind. No annotation loosens the jail: org.donjon.profile only
   * tightens, org.donjon.image runs an attested image under that profile. */
  return json_pack("{s:s, s:s, s:[s, s, s, s, s, s], s:o, s:o, s:{s:s}, s:[]}", "ociVersionMin", "1.0.0",
                   "ociVersionMax", "1.2.0", "hooks", "prestart", "createRuntime", "createContainer", "startContainer",
                   "poststart", "poststop", "mountOptions", names(DJ_NAMES_MOUNT_OPTIONS), "linux", linux, "annotations",
                   "org.donjon.version", DJ_VERSION, "potentiallyUnsafeConfigAnnotations");
}
