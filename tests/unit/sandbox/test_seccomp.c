/* seccomp: the OCI -> libseccomp translation (the filter libseccomp builds, read back with
 * seccomp_export_pfc), and the confidential profile's filter for real: a forked child that keeps
 * root and every capability loads it, so these tests see the filter layer alone. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/seccomp.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

/* ---- linux.seccomp JSON through the spec parser, inside the smallest valid config.json ---- */

struct owned {
  struct dj_spec *spec;
  struct dj_seccomp *sc; /* spec->seccomp: tests alter it to get past the parser's own checks */
};

/* Takes the reference to seccomp. */
static void decode(json_t *seccomp, struct owned *o)
{
  json_t *doc = json_pack("{s:s, s:{s:s}, s:{s:[s], s:s, s:{s:i, s:i}, s:{}}, s:{s:o}}", "ociVersion",
                          "1.2.0", "root", "path", "rootfs", "process", "args", "/bin/true", "cwd", "/",
                          "user", "uid", 0, "gid", 0, "capabilities", "linux", "seccomp", seccomp);
  cr_assert_not_null(doc);
  dj_err err = { 0 };
  o->spec = NULL;
  cr_assert_eq(dj_spec_parse(doc, &o->spec, &err), 0, "%s", err.msg);
  json_decref(doc);
  o->sc = o->spec->seccomp;
  cr_assert_not_null(o->sc);
}

static void owned_free(struct owned *o)
{
  dj_spec_free(o->spec);
}

static json_t *parse(const char *text)
{
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  cr_assert_not_null(j, "bad test JSON: %s", je.text);
  return j;
}

/* Build from JSON text; returns dj_seccomp_build's result, err and unknown filled. */
static int build_text(const char *text, scmp_filter_ctx *ctx, char ***unknown, dj_err *err)
{
  struct owned o;
  decode(parse(text), &o);
  int rc = dj_seccomp_build(o.sc, ctx, unknown, err);
  owned_free(&o);
  return rc;
}

static char *pfc(scmp_filter_ctx ctx)
{
  int fd = memfd_create("pfc", MFD_CLOEXEC);
  cr_assert_geq(fd, 0);
  cr_assert_eq(seccomp_export_pfc(ctx, fd), 0);
  off_t len = lseek(fd, 0, SEEK_END);
  char *buf = dj_xcalloc(1, (size_t) len + 1);
  cr_assert_eq(pread(fd, buf, (size_t) len, 0), len);
  close(fd);
  return buf;
}

static size_t count(const char *hay, const char *needle)
{
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

/* The pfc text of a filter built from JSON that must build. */
static char *pfc_of(const char *text)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(build_text(text, &ctx, &unknown, &err), 0, "%s", err.msg);
  char *s = pfc(ctx);
  seccomp_release(ctx);
  dj_strvfreep(&unknown);
  return s;
}

static void assert_build_error(const char *text, const char *msg)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(build_text(text, &ctx, &unknown, &err), -1);
  cr_assert_null(ctx);
  cr_assert_null(unknown);
  cr_assert_str_eq(err.msg, msg);
}

/* For values the spec parser refuses itself: the translation must refuse them too. */
static void assert_altered_error(const char *text, void (*alter)(struct dj_seccomp *), const char *msg)
{
  struct owned o;
  decode(parse(text), &o);
  struct dj_seccomp saved = *o.sc;
  alter(o.sc);
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(dj_seccomp_build(o.sc, &ctx, &unknown, &err), -1);
  cr_assert_null(ctx);
  cr_assert_null(unknown);
  cr_assert_str_eq(err.msg, msg);
  *o.sc = saved; /* the parser's vectors, for dj_spec_free */
  owned_free(&o);
}

/* ---- translation ------------------------------------------------------------------------------ */

Test(seccomp_build, default_errno_is_eperm_unless_given)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  uint32_t def;
  cr_assert_eq(build_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\"}", &ctx, &unknown, &err), 0, "%s", err.msg);
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_DEFAULT, &def), 0);
  cr_assert_eq(def, SCMP_ACT_ERRNO(EPERM));
  seccomp_release(ctx);
  cr_assert_eq(build_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38}", &ctx,
                          &unknown, &err), 0, "%s", err.msg);
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_DEFAULT, &def), 0);
  cr_assert_eq(def, SCMP_ACT_ERRNO(ENOSYS));
  /* no_new_privs is left to process.noNewPrivileges; bad architectures kill the process */
  uint32_t nnp, badarch;
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_CTL_NNP, &nnp), 0);
  cr_assert_eq(nnp, 0);
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_BADARCH, &badarch), 0);
  cr_assert_eq(badarch, SCMP_ACT_KILL_PROCESS);
  seccomp_release(ctx);
}

Test(seccomp_build, actions_and_errno)
{
  char *s = pfc_of("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                   "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13},"
                   "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\"},"
                   "{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
                   "{\"names\":[\"getuid\"],\"action\":\"SCMP_ACT_TRAP\"},"
                   "{\"names\":[\"getgid\"],\"action\":\"SCMP_ACT_LOG\"},"
                   "{\"names\":[\"geteuid\"],\"action\":\"SCMP_ACT_KILL\"},"
                   "{\"names\":[\"getegid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
  cr_assert(strstr(s, "\"getpid\"") && strstr(s, "action ERRNO(13);"), "%s", s);
  cr_assert(strstr(s, "action ERRNO(1);"), "errnoRet defaults to EPERM:\n%s", s);
  cr_assert(strstr(s, "action KILL_PROCESS;") && strstr(s, "action TRAP;") && strstr(s, "action LOG;"), "%s", s);
  cr_assert(strstr(s, "action KILL;"), "%s", s);
  /* a rule with the default action is skipped (libseccomp refuses it) */
  cr_assert_null(strstr(s, "\"getegid\""), "%s", s);
  free(s);
}

Test(seccomp_build, unknown_names_are_reported_not_dropped_silently)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(build_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                          "{\"names\":[\"getpid\",\"no_such_syscall\",\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                          "{\"names\":[\"no_such_syscall\",\"other_unknown\"],\"action\":\"SCMP_ACT_LOG\"}]}",
                          &ctx, &unknown, &err), 0, "%s", err.msg);
  cr_assert_not_null(unknown);
  cr_assert_str_eq(unknown[0], "no_such_syscall");
  cr_assert_str_eq(unknown[1], "other_unknown");
  cr_assert_null(unknown[2]);
  char *s = pfc(ctx);
  cr_assert(strstr(s, "\"getpid\"") && strstr(s, "\"read\""), "the known names keep their rule:\n%s", s);
  free(s);
  dj_strvfreep(&unknown);
  seccomp_release(ctx);
}

Test(seccomp_build, same_index_conditions_are_ored_as_runc)
{
  /* read is not a narrow syscall: the compares stay as written */
  char *s = pfc_of("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                   "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                   "{\"index\":0,\"value\":7,\"op\":\"SCMP_CMP_EQ\"},"
                   "{\"index\":0,\"value\":9,\"op\":\"SCMP_CMP_EQ\"},"
                   "{\"index\":2,\"value\":100,\"op\":\"SCMP_CMP_LE\"}]}]}");
  /* three separate rules, each with its one condition: none nested under another */
  cr_assert(strstr(s, "if ($a0.lo32 == 7)") && strstr(s, "if ($a0.lo32 == 9)"), "%s", s);
  cr_assert(strstr(s, "\n    if ($a0.hi32 == 0)"), "%s", s);
  cr_assert(strstr(s, "\n    if ($a2.hi32 > 0)"), "the a2 rule is its own rule, not under a0:\n%s", s);
  free(s);
}

Test(seccomp_build, different_index_conditions_are_anded)
{
  char *s = pfc_of("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                   "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                   "{\"index\":0,\"value\":7,\"op\":\"SCMP_CMP_EQ\"},"
                   "{\"index\":2,\"value\":100,\"op\":\"SCMP_CMP_EQ\"}]}]}");
  /* one rule: the second compare is nested under the first */
  cr_assert_eq(count(s, "action ALLOW;"), 1, "%s", s);
  const char *a0 = strstr(s, "if ($a0.lo32 == 7)"), *a2 = strstr(s, "if ($a2.lo32 == 100)");
  cr_assert(a0 && a2 && a0 < a2, "%s", s);
  free(s);
}

Test(seccomp_build, eq_on_32bit_argument_is_masked)
{
  char *s = pfc_of("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                   "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                   "{\"index\":1,\"value\":21522,\"op\":\"SCMP_CMP_EQ\"}]}]}");
  /* 21522 = TIOCSTI = 0x5412; the high half must not take part */
  cr_assert(strstr(s, "if ($a1.hi32 & 0x00000000 == 0)"), "%s", s);
  cr_assert(strstr(s, "if ($a1.lo32 & 0xffffffff == 21522)"), "%s", s);
  cr_assert_null(strstr(s, "$a1.hi32 == 0"), "%s", s);
  free(s);
  cr_assert_eq(dj_seccomp_narrow_mask("ioctl", 1), 0xffffffff);
  cr_assert_eq(dj_seccomp_narrow_mask("mknodat", 2), 0xffff);
  cr_assert_eq(dj_seccomp_narrow_mask("ioctl", 2), 0);
}

Test(seccomp_build, ne_on_32bit_argument_is_any_low_bit_differing)
{
  char *s = pfc_of("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                   "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                   "{\"index\":0,\"value\":40,\"op\":\"SCMP_CMP_NE\"}]}]}");
  /* one masked compare per low bit: 32 alternatives, none on the high half */
  cr_assert_eq(count(s, "action ALLOW;"), 32, "%s", s);
  cr_assert_null(strstr(s, "!= 40"), "%s", s);
  free(s);
}

Test(seccomp_build, ordered_compare_on_32bit_argument_refused)
{
  assert_build_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                     "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_LOG\"},"
                     "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                     "{\"index\":1,\"value\":21522,\"op\":\"SCMP_CMP_GE\"}]}]}",
                     "linux.seccomp.syscalls[1].args[0]: SCMP_CMP_GE on argument 1 of ioctl, which "
                     "the kernel reads as 32 bits, cannot be checked safely by libseccomp (use "
                     "SCMP_CMP_EQ, SCMP_CMP_NE or SCMP_CMP_MASKED_EQ)");
}

static const char *vax_archs[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_VAX", NULL};
static void use_vax(struct dj_seccomp *sc)
{
  sc->architectures = vax_archs;
  sc->n_architectures = 2;
}

Test(seccomp_build, invalid_architecture_refused)
{
  assert_altered_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}", use_vax,
                       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
}

Test(seccomp_build, architectures_added_native_kept)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(build_text("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":"
                          "[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]}", &ctx, &unknown, &err), 0, "%s", err.msg);
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_NATIVE), 0);
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_X86), 0);
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_X32), 0);
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_AARCH64), -EEXIST);
  seccomp_release(ctx);
}

static const char *foo_flags[] = {"SECCOMP_FILTER_FLAG_FOO", NULL};
static void use_foo_flag(struct dj_seccomp *sc)
{
  sc->flags = foo_flags;
  sc->n_flags = 1;
}

Test(seccomp_build, flags)
{
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(build_text("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
                          "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\",\"SECCOMP_FILTER_FLAG_TSYNC\"]}",
                          &ctx, &unknown, &err), 0, "%s", err.msg);
  uint32_t v;
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_CTL_LOG, &v), 0);
  cr_assert_eq(v, 1);
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_CTL_SSB, &v), 0);
  cr_assert_eq(v, 1);
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_CTL_TSYNC, &v), 0);
  cr_assert_eq(v, 1);
  seccomp_release(ctx);
  assert_build_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
                     "\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]}",
                     "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV cannot be set "
                     "through libseccomp 2.5.4");
  assert_altered_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}", use_foo_flag,
                       "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\"");
}

static void index_6(struct dj_seccomp *sc)
{
  sc->rules[0].args[0].index = 6;
}

static void errno_70000(struct dj_seccomp *sc)
{
  sc->rules[0].errno_ret = 70000;
}

Test(seccomp_build, bad_rules_refused_with_their_path)
{
  assert_altered_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                       "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                       "{\"index\":5,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}", index_6,
                       "linux.seccomp.syscalls[0].args[0].index: 6 is not a syscall argument (0 to 5)");
  assert_altered_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                       "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}",
                       errno_70000,
                       "linux.seccomp.syscalls[0].action: errno 70000 does not fit the 16 bits of "
                       "SECCOMP_RET_DATA");
  assert_build_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                     "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                     "{\"index\":0,\"value\":5,\"op\":\"SCMP_CMP_EQ\"}]},"
                     "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_LOG\",\"args\":["
                     "{\"index\":0,\"value\":5,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                     "linux.seccomp.syscalls[1]: read: an earlier rule gives the same conditions "
                     "another action");
}

Test(seccomp_build, first_of_two_unconditional_rules_applies)
{
  /* podman's default profile: setns in the allow list, then denied again without CAP_SYS_ADMIN;
   * libseccomp keeps the first, so runc and crun allow it, and so does donjon */
  char *pfc = pfc_of("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
                     "{\"names\":[\"setns\",\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                     "{\"names\":[\"setns\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
  cr_assert(strstr(pfc, "\"setns\"") != NULL, "%s", pfc);
  const char *rule = strstr(pfc, "\"setns\"");
  const char *next = strstr(rule + 1, "filter for syscall");
  const char *allow = strstr(rule, "action ALLOW");
  cr_expect(allow != NULL && (next == NULL || allow < next), "setns is not allowed by the first rule:\n%s", pfc);
  free(pfc);
}

Test(seccomp_build, conditional_rule_shadowed_by_unconditional_refused)
{
  /* libseccomp would apply ALLOW to every ioctl and drop the TIOCSTI rule without a word */
  assert_build_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
                     "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                     "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                     "{\"index\":1,\"value\":21522,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                     "linux.seccomp.syscalls[1]: ioctl: this rule's action differs from the "
                     "unconditional rule of linux.seccomp.syscalls[0], which libseccomp applies to "
                     "every call of ioctl instead (give the exception's complement as conditions)");
  /* the same action twice is fine */
  free(pfc_of("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
              "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\"},"
              "{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
              "{\"index\":1,\"value\":21522,\"op\":\"SCMP_CMP_EQ\"}]}]}"));
}

Test(seccomp_build, runtime_steps_must_pass_the_filter)
{
  struct owned o;
  dj_err err = { 0 };
  decode(parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                "{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_ERRNO\"}]}"), &o);
  cr_assert_eq(dj_seccomp_check_runtime_steps(o.sc, false, &err), -1);
  cr_assert_str_eq(err.msg, "linux.seccomp.syscalls[0]: denies execve (SCMP_ACT_ERRNO(1)), but the "
                   "runtime starts the process with it after loading the filter");
  owned_free(&o);

  decode(parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                "{\"names\":[\"execve\",\"prctl\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"), &o);
  cr_assert_eq(dj_seccomp_check_runtime_steps(o.sc, false, &err), 0, "%s", err.msg);
  /* capset falls to the default, and capabilities would be dropped under the filter */
  cr_assert_eq(dj_seccomp_check_runtime_steps(o.sc, true, &err), -1);
  cr_assert(strstr(err.msg, "linux.seccomp.defaultAction: denies capset"), "%s", err.msg);
  owned_free(&o);

  /* argument-dependent: only the call can tell, so it is let through */
  decode(parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                "{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                "{\"index\":2,\"value\":0,\"op\":\"SCMP_CMP_NE\"}]}]}"), &o);
  cr_assert_eq(dj_seccomp_check_runtime_steps(o.sc, false, &err), 0, "%s", err.msg);
  owned_free(&o);

  decode(dj_seccomp_confidential_profile(), &o);
  cr_assert_eq(dj_seccomp_check_runtime_steps(o.sc, true, &err), 0, "%s", err.msg);
  owned_free(&o);
}

/* ---- the confidential profile ------------------------------------------------------------------ */

/* The confidential profile, optionally with its errnos replaced (to prove an answer comes from the
 * filter and not from the kernel's own checks). */
static scmp_filter_ctx confidential_filter(uint32_t eperm_as, uint32_t enosys_as)
{
  struct owned o;
  decode(dj_seccomp_confidential_profile(), &o);
  if (o.sc->default_errno_ret == ENOSYS && enosys_as)
    o.sc->default_errno_ret = enosys_as;
  for (size_t i = 0; i < o.sc->n_rules; i++) {
    if (o.sc->rules[i].errno_ret == EPERM && eperm_as)
      o.sc->rules[i].errno_ret = eperm_as;
    else if (o.sc->rules[i].errno_ret == ENOSYS && enosys_as)
      o.sc->rules[i].errno_ret = enosys_as;
  }
  scmp_filter_ctx ctx;
  char **unknown;
  dj_err err = { 0 };
  cr_assert_eq(dj_seccomp_build(o.sc, &ctx, &unknown, &err), 0, "%s", err.msg);
  cr_assert_null(unknown, "the profile names syscalls libseccomp does not know: %s", unknown ? unknown[0] : "");
  owned_free(&o);
  return ctx;
}

Test(confidential, profile_shape)
{
  json_t *p = dj_seccomp_confidential_profile();
  cr_assert_str_eq(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
  cr_assert_eq(json_integer_value(json_object_get(p, "defaultErrnoRet")), ENOSYS);
  json_t *arches = json_object_get(p, "architectures");
  cr_assert_eq(json_array_size(arches), 1);
#ifdef __x86_64__
  cr_assert_str_eq(json_string_value(json_array_get(arches, 0)), "SCMP_ARCH_X86_64");
#endif
  json_decref(p);
}

Test(confidential, filter_text)
{
  scmp_filter_ctx ctx = confidential_filter(0, 0);
  char *s = pfc(ctx);
  seccomp_release(ctx);
  cr_assert(strstr(s, "action ERRNO(38);"), "%s", s);
  /* the hottest calls come first in the linear scan */
  const char *rd = strstr(s, "# filter for syscall \"read\""), *wr = strstr(s, "# filter for syscall \"write\"");
  const char *mnt = strstr(s, "# filter for syscall \"mount\"");
  cr_assert(rd && wr && mnt && rd < wr && wr < mnt, "%s", s);
  /* native architecture only */
  cr_assert_eq(count(s, "# filter for arch "), 1, "%s", s);
  /* TIOCSTI and TIOCLINUX denied on the low 32 bits */
  cr_assert(strstr(s, "if ($a1.lo32 & 0xffffffff == 21522)"), "%s", s);
  cr_assert(strstr(s, "if ($a1.lo32 & 0xffffffff == 21532)"), "%s", s);
  cr_assert_null(strstr(s, "$a1.hi32 == 0"), "no unmasked compare of ioctl's cmd:\n%s", s);
  cr_assert(strstr(s, "\"mount\"") && strstr(s, "\"bpf\"") && strstr(s, "\"unshare\""), "%s", s);
  /* clone3's ERRNO(ENOSYS) is the default action: libseccomp needs no rule for it */
  cr_assert_null(strstr(s, "\"clone3\""), "%s", s);
  free(s);
}

/* Run check() in a child (root, every capability) under the confidential filter built with the
 * given errnos; returns the child's wait status. The child's mounts stay private to it. */
static int run_filtered(int (*check)(void), bool filtered, uint32_t eperm_as, uint32_t enosys_as)
{
  scmp_filter_ctx ctx = filtered ? confidential_filter(eperm_as, enosys_as) : NULL;
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    /* children killed with SIGSYS must not leave core files behind */
    struct rlimit nocore = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &nocore) < 0 || unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
      _exit(90);
    dj_err err = { 0 };
    if (ctx != NULL && dj_seccomp_load(ctx, &err) < 0) {
      fprintf(stderr, "%s\n", err.msg);
      _exit(91);
    }
    _exit(check());
  }
  if (ctx != NULL)
    seccomp_release(ctx);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  return status;
}

#define EXPECT(cond)                                                                          \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: %s (errno %d %s)\n", __FILE__, __LINE__, #cond, errno,          \
              strerror(errno));                                                               \
      return 1;                                                                               \
    }                                                                                         \
  } while (0)

static void assert_child_ok(int status)
{
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child: %s %d (see stderr)", WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static long sys_fails(long rc, int e)
{
  return rc == -1 && errno == e;
}

/* The denials of the profile, each with arguments that do no harm if the filter let them through. */
static int denials(int eperm, int enosys)
{
  EXPECT(sys_fails(mount("none", "/mnt", "tmpfs", 0, NULL), eperm));
  EXPECT(sys_fails(umount2("/nonexistent", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_pivot_root, "/nonexistent", "/nonexistent"), eperm));
  EXPECT(sys_fails(chroot("/nonexistent"), eperm));
  EXPECT(sys_fails(unshare(CLONE_NEWUTS), eperm));
  EXPECT(sys_fails(setns(-1, 0), eperm));
  long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  EXPECT(sys_fails(pid, eperm));
  pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  EXPECT(sys_fails(pid, eperm));
  EXPECT(sys_fails(syscall(SYS_clone3, NULL, 0), enosys));
  EXPECT(sys_fails(syscall(SYS_fsopen, "tmpfs", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_open_tree, -1, "/nonexistent", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_move_mount, -1, "", -1, "", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_add_key, "user", "x", "y", 1, KEY_SPEC_PROCESS_KEYRING), eperm));
  EXPECT(sys_fails(syscall(SYS_bpf, 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_ptrace, 0xdead, 0, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_io_uring_setup, 0, NULL), eperm));
  EXPECT(sys_fails(syscall(SYS_userfaultfd, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_open_by_handle_at, -1, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_name_to_handle_at, -1, "", NULL, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_swapon, "/nonexistent", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), eperm));
  struct timeval bad = { .tv_sec = 0, .tv_usec = 2000000 }; /* EINVAL if it ever got through */
  EXPECT(sys_fails(syscall(SYS_settimeofday, &bad, NULL), eperm));
  struct timespec badts = { .tv_sec = 0, .tv_nsec = 2000000000 };
  EXPECT(sys_fails(syscall(SYS_clock_settime, CLOCK_REALTIME, &badts), eperm));
  EXPECT(sys_fails(syscall(SYS_reboot, 0, 0, 0, NULL), eperm)); /* bad magic: EINVAL if through */
  EXPECT(sys_fails(syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL), eperm));
  EXPECT(sys_fails(syscall(SYS_init_module, NULL, 0, ""), eperm));
  EXPECT(sys_fails(syscall(SYS_delete_module, "no_such_module", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_acct, "/nonexistent"), eperm));
  EXPECT(sys_fails(syscall(SYS_quotactl, 0, "/nonexistent", 0, NULL), eperm));
  EXPECT(sys_fails(syscall(SYS_iopl, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_ioperm, 0, 0, 0), eperm));
  /* the rest of the list, with arguments that would fail or only read if they got through */
  EXPECT(sys_fails(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_fsmount, -1, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_fspick, -1, "/nonexistent", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_request_key, "user", "nonexistent", NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_io_uring_register, -1, 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_process_vm_writev, getppid(), NULL, 0, NULL, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_pidfd_getfd, -1, 0, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_finit_module, -1, "", 0), eperm));
  EXPECT(sys_fails(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xffff0000UL), eperm));
  EXPECT(sys_fails(syscall(SYS_swapoff, "/nonexistent"), eperm));
  EXPECT(sys_fails(syscall(SYS_quotactl_fd, -1, 0, 0, NULL), eperm));
  EXPECT(sys_fails(syscall(SYS_clock_adjtime, CLOCK_REALTIME, NULL), eperm));
  EXPECT(sys_fails(syscall(SYS_adjtimex, NULL), eperm));
  EXPECT(sys_fails(syscall(SYS_modify_ldt, 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_lookup_dcookie, 0, NULL, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_uselib, "/nonexistent"), eperm));
  EXPECT(sys_fails(syscall(SYS_sysfs, 3), eperm));
  EXPECT(sys_fails(syscall(SYS_fanotify_init, 0xffffffff, 0), eperm));
  EXPECT(sys_fails(syscall(SYS_move_pages, getpid(), 0, NULL, NULL, NULL, 0), eperm));
  /* a syscall number nobody knows */
  EXPECT(sys_fails(syscall(1023), enosys));
  return 0;
}

static int denials_real(void)
{
  return denials(EPERM, ENOSYS);
}

/* 133/134 are errnos nothing above returns by itself: they prove the filter answered. */
static int denials_marked(void)
{
  return denials(133, 134);
}

Test(confidential, denials, .timeout = 30)
{
  assert_child_ok(run_filtered(denials_real, true, 0, 0));
}

Test(confidential, denials_come_from_the_filter, .timeout = 30)
{
  assert_child_ok(run_filtered(denials_marked, true, 133, 134));
}

static int open_pty_slave(void)
{
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
    return -1;
  return open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
}

/* TIOCSTI into a pty of our own: harmless even if it got through. */
static int tiocsti(void)
{
  int s = open_pty_slave();
  EXPECT(s >= 0);
  char c = 'x';
  EXPECT(sys_fails(ioctl(s, TIOCSTI, &c), EPERM));
  /* the kernel reads cmd as 32 bits: the high bits must not get it past the rule */
  EXPECT(sys_fails(syscall(SYS_ioctl, s, (unsigned long) TIOCSTI | (1UL << 32), &c), EPERM));
  EXPECT(sys_fails(syscall(SYS_ioctl, s, (unsigned long) TIOCSTI | (0xabcdUL << 40), &c), EPERM));
  char sub = 0;
  EXPECT(sys_fails(syscall(SYS_ioctl, s, (unsigned long) TIOCLINUX | (1UL << 32), &sub), EPERM));
  EXPECT(sys_fails(ioctl(s, TIOCLINUX, &sub), EPERM));
  /* other ioctls work */
  struct winsize ws;
  EXPECT(ioctl(s, TIOCGWINSZ, &ws) == 0);
  int n;
  EXPECT(ioctl(s, FIONREAD, &n) == 0);
  return 0;
}

Test(confidential, tiocsti_denied_even_with_high_bits)
{
  assert_child_ok(run_filtered(tiocsti, true, 0, 0));
}

/* Without the filter TIOCSTI | 1 << 32 is TIOCSTI (what the masked compare is for). */
static int tiocsti_unfiltered(void)
{
  int s = open_pty_slave();
  EXPECT(s >= 0);
  char c = 'x';
  EXPECT(syscall(SYS_ioctl, s, (unsigned long) TIOCSTI | (1UL << 32), &c) == 0);
  return 0;
}

Test(confidential, control_high_bits_reach_tiocsti_without_filter)
{
  assert_child_ok(run_filtered(tiocsti_unfiltered, false, 0, 0));
}

static char tmpdir[] = "/tmp/dj-seccomp-XXXXXX";

static int nodes(void)
{
  char p[64];
  snprintf(p, sizeof p, "%s/chr", tmpdir);
  EXPECT(sys_fails(mknod(p, S_IFCHR | 0600, makedev(1, 3)), EPERM));
  EXPECT(sys_fails(mknodat(AT_FDCWD, p, S_IFBLK | 0600, makedev(7, 0)), EPERM));
  /* umode_t is 16 bits: a high bit does not turn a device into something else */
  EXPECT(sys_fails(syscall(SYS_mknodat, AT_FDCWD, p, (1UL << 32) | S_IFCHR | 0600, makedev(1, 3)), EPERM));
  snprintf(p, sizeof p, "%s/fifo", tmpdir);
  EXPECT(mkfifo(p, 0600) == 0);
  snprintf(p, sizeof p, "%s/reg", tmpdir);
  EXPECT(mknod(p, S_IFREG | 0600, 0) == 0);
  return 0;
}

Test(confidential, device_nodes_denied_fifos_allowed)
{
  cr_assert_not_null(mkdtemp(tmpdir));
  int status = run_filtered(nodes, true, 0, 0);
  char p[64];
  const char *names[] = {"chr", "fifo", "reg"};
  for (size_t i = 0; i < DJ_ARRAY_SIZE(names); i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  assert_child_ok(status);
}

static int persona(void)
{
  EXPECT(sys_fails(personality(PER_LINUX32), EPERM));
  EXPECT(sys_fails(syscall(SYS_personality, (1UL << 32) | PER_LINUX32), EPERM));
  EXPECT(sys_fails(personality(ADDR_NO_RANDOMIZE), EPERM));
  EXPECT(personality(0xffffffff) == PER_LINUX);
  /* the kernel reads 32 bits: this is the query too, and must not fall to the default */
  EXPECT(syscall(SYS_personality, (1UL << 32) | 0xffffffffUL) == PER_LINUX);
  EXPECT(personality(PER_LINUX) == PER_LINUX);
  return 0;
}

Test(confidential, personality_only_default_and_query)
{
  assert_child_ok(run_filtered(persona, true, 0, 0));
}

static void *thread_main(void *arg)
{
  *(int *) arg = 42;
  return arg;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
  got_usr1 = sig;
}

static int ordinary(void)
{
  /* threads: glibc tries clone3, gets ENOSYS, falls back to clone without namespace flags */
  pthread_t t;
  int v = 0;
  EXPECT(pthread_create(&t, NULL, thread_main, &v) == 0);
  EXPECT(pthread_join(t, NULL) == 0 && v == 42);
  pid_t child = fork();
  EXPECT(child >= 0);
  if (child == 0)
    _exit(7);
  int st;
  EXPECT(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 7);
  /* files */
  char path[] = "/tmp/dj-seccomp-file-XXXXXX";
  int fd = mkstemp(path);
  EXPECT(fd >= 0);
  EXPECT(write(fd, "hello", 5) == 5);
  EXPECT(lseek(fd, 0, SEEK_SET) == 0);
  char buf[8] = { 0 };
  EXPECT(read(fd, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
  struct stat stt;
  EXPECT(fstat(fd, &stt) == 0 && stt.st_size == 5);
  EXPECT(fcntl(fd, F_GETFD) >= 0);
  close(fd);
  EXPECT(unlink(path) == 0);
  /* pipes */
  int p[2];
  EXPECT(pipe2(p, O_CLOEXEC) == 0);
  EXPECT(write(p[1], "x", 1) == 1 && read(p[0], buf, 1) == 1 && buf[0] == 'x');
  close(p[0]);
  close(p[1]);
  /* a socket on lo */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT(s >= 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  EXPECT(bind(s, (struct sockaddr *) &a, sizeof a) == 0);
  EXPECT(getsockname(s, (struct sockaddr *) &a, &al) == 0);
  EXPECT(sendto(s, "ping", 4, 0, (struct sockaddr *) &a, sizeof a) == 4);
  EXPECT(recv(s, buf, sizeof buf, 0) == 4 && memcmp(buf, "ping", 4) == 0);
  close(s);
  EXPECT(sys_fails(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM));
  /* time */
  struct timespec ts;
  EXPECT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  EXPECT(syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) == 0);
  EXPECT(nanosleep(&(struct timespec){ 0, 1000 }, NULL) == 0);
  /* signals */
  struct sigaction sa = { .sa_handler = on_usr1 };
  EXPECT(sigaction(SIGUSR1, &sa, NULL) == 0);
  EXPECT(kill(getpid(), SIGUSR1) == 0);
  EXPECT(got_usr1 == SIGUSR1);
  /* memory */
  void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT(m != MAP_FAILED && munmap(m, 1 << 20) == 0);
  return 0;
}

Test(confidential, ordinary_programs_work, .timeout = 30)
{
  assert_child_ok(run_filtered(ordinary, true, 0, 0));
}

/* A busybox shell script: exec, fork, pipes, redirections, file I/O, signals, time. */
static int busybox_script(void)
{
  char *argv[] = {"busybox", "sh", "-c",
                  "set -e; d=$(busybox mktemp -d); echo hello > $d/f; read x < $d/f; "
                  "test \"$x\" = hello; busybox cat $d/f | busybox wc -c | busybox grep -q 6; "
                  "busybox mkfifo $d/p; busybox rm -r $d; busybox date > /dev/null; "
                  "trap 'exit 0' USR1; kill -USR1 $$; exit 3",
                  NULL};
  execv("/bin/busybox", argv);
  return 99;
}

Test(confidential, busybox_shell_script_works, .timeout = 30)
{
  if (access("/bin/busybox", X_OK) != 0)
    cr_skip_test("no /bin/busybox (Debian's busybox-static)");
  assert_child_ok(run_filtered(busybox_script, true, 0, 0));
}

#ifdef __x86_64__
static long int80_getpid(void)
{
  long ret = 20; /* __NR_getpid on i386 */
  __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
  return ret;
}

static int i386_syscall(void)
{
  return int80_getpid() == getpid() ? 0 : 1;
}

static int x32_syscall(void)
{
  syscall(0x40000000 | SYS_getpid);
  return 0; /* the filter must kill before this */
}

/* Whether this kernel runs i386 system calls at all: without ia32 emulation (not built in, or
 * ia32_emulation=0, as on some VM kernels) int 0x80 faults with SIGSEGV with or without a filter,
 * and the filter's layer is shown by the filter libseccomp built instead (the fallback). */
static bool kernel_runs_i386(void)
{
  int status = run_filtered(i386_syscall, false, 0, 0);
  cr_assert((WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV),
            "int 0x80 without a filter: status %#x", status);
  return WIFEXITED(status);
}

Test(confidential, control_i386_abi_works_without_filter)
{
  if (!kernel_runs_i386())
    cr_log_info("this kernel has no ia32 emulation: int 0x80 faults without a filter (i386_syscall_killed checks "
                "the filter's bad-architecture action instead)");
}

Test(confidential, i386_syscall_killed)
{
  int status = run_filtered(i386_syscall, true, 0, 0);
  if (kernel_runs_i386()) {
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x", status);
    return;
  }
  /* the kernel refuses i386 itself; the filter would too: x86 is not one of its architectures, and
   * a call of an architecture it does not name gets the bad-architecture action, a kill */
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
  scmp_filter_ctx ctx = confidential_filter(0, 0);
  uint32_t badarch = 0;
  cr_assert_eq(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_BADARCH, &badarch), 0);
  cr_assert_eq(badarch, SCMP_ACT_KILL_PROCESS);
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_X86), -EEXIST, "the filter admits i386 calls");
  cr_assert_eq(seccomp_arch_exist(ctx, SCMP_ARCH_X32), -EEXIST, "the filter admits x32 calls");
  seccomp_release(ctx);
}

Test(confidential, x32_syscall_killed)
{
  int status = run_filtered(x32_syscall, true, 0, 0);
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x", status);
}
#endif
