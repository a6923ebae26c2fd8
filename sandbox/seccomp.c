/* OCI linux.seccomp translated to a libseccomp filter (the rules are in docs/seccomp.md).
 *
 * Order constraint: the filter is loaded last, so the runtime's own remaining steps run under it.
 * With noNewPrivileges the container's init sets no_new_privs, then loads the filter, then calls
 * execve. Without it the filter must be loaded while CAP_SYS_ADMIN is still held, that is before
 * the capability sets are dropped, so capset and prctl (ambient set, keepcaps) run under the
 * filter too. dj_seccomp_check_runtime_steps() refuses a profile that denies those calls
 * unconditionally, before anything is created, naming the syscall and the action; a profile that
 * denies them only for some arguments gets the execve or capset error with the profile's errno.
 * libseccomp's own no_new_privs attribute is off: process.noNewPrivileges alone decides it. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define SC_PATH "linux.seccomp"
/* An OCI rule never expands to more libseccomp rules than this (NE on 32-bit arguments multiplies). */
#define DJ_SCMP_MAX_EXPANSION 4096u

static const struct {
  const char *name;
  uint32_t token;
} arch_names[] = {
  {"SCMP_ARCH_X86", SCMP_ARCH_X86},         {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
  {"SCMP_ARCH_X32", SCMP_ARCH_X32},         {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
  {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}, {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
  {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},   {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
  {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},   {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
  {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
  {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},         {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
  {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE}, {"SCMP_ARCH_S390", SCMP_ARCH_S390},
  {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},     {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
  {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64}, {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
#ifdef SCMP_ARCH_LOONGARCH64
  {"SCMP_ARCH_LOONGARCH64", SCMP_ARCH_LOONGARCH64},
#endif
#ifdef SCMP_ARCH_M68K
  {"SCMP_ARCH_M68K", SCMP_ARCH_M68K},
#endif
#ifdef SCMP_ARCH_SH
  {"SCMP_ARCH_SH", SCMP_ARCH_SH},           {"SCMP_ARCH_SHEB", SCMP_ARCH_SHEB},
#endif
};

/* Names of the spec the libseccomp of this build cannot handle: refused with a clear error. */
static const char *const arch_unsupported[] = {"SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
                                               "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"};

/* Arguments the kernel reads as 32 bits (int, unsigned int) or 16 bits (umode_t), while libseccomp
 * 2.5 compares all 64: without a mask, "ioctl(fd, TIOCSTI | 1UL << 32)" escapes an EQ TIOCSTI rule
 * and the kernel still runs TIOCSTI. EQ/NE on these become masked compares. */
static const struct narrow_arg {
  const char *syscall;
  unsigned index;
  uint64_t mask;
} narrow_args[] = {
  {"ioctl", 1, 0xffffffff},          /* unsigned int cmd: TIOCSTI with high bits is TIOCSTI */
  {"fcntl", 1, 0xffffffff},          /* unsigned int cmd */
  {"personality", 0, 0xffffffff},    /* unsigned int persona */
  {"socket", 0, 0xffffffff},         /* int domain, type, protocol */
  {"socket", 1, 0xffffffff},
  {"socket", 2, 0xffffffff},
  {"socketpair", 0, 0xffffffff},
  {"socketpair", 1, 0xffffffff},
  {"socketpair", 2, 0xffffffff},
  {"setsockopt", 1, 0xffffffff},     /* int level, optname */
  {"setsockopt", 2, 0xffffffff},
  {"getsockopt", 1, 0xffffffff},
  {"getsockopt", 2, 0xffffffff},
  {"prctl", 0, 0xffffffff},          /* int option */
  {"clone", 0, 0xffffffff},          /* the kernel keeps lower_32_bits(clone_flags) */
  {"setns", 1, 0xffffffff},          /* int nstype */
  {"mknod", 1, 0xffff},              /* umode_t mode: 16 bits */
  {"mknodat", 2, 0xffff},
  {"chmod", 1, 0xffff},              /* umode_t mode */
  {"fchmod", 1, 0xffff},
  {"fchmodat", 2, 0xffff},
  {"fchmodat2", 2, 0xffff},
  {"open", 1, 0xffffffff},           /* int flags */
  {"openat", 2, 0xffffffff},
  {"kill", 1, 0xffffffff},           /* int sig */
  {"tkill", 1, 0xffffffff},
  {"tgkill", 2, 0xffffffff},
  {"rt_sigqueueinfo", 1, 0xffffffff},
  {"rt_tgsigqueueinfo", 2, 0xffffffff},
  {"keyctl", 0, 0xffffffff},         /* int option */
  {"bpf", 0, 0xffffffff},            /* int cmd */
  {"quotactl", 0, 0xffffffff},       /* unsigned int cmd */
  {"futex", 1, 0xffffffff},          /* int op */
  {"seccomp", 0, 0xffffffff},        /* unsigned int op */
  {"flock", 1, 0xffffffff},          /* unsigned int cmd */
  {"madvise", 2, 0xffffffff},        /* int behavior */
  {"fadvise64", 3, 0xffffffff},      /* int advice */
  {"reboot", 2, 0xffffffff},         /* unsigned int cmd */
  {"setuid", 0, 0xffffffff},         /* uid_t / gid_t */
  {"setgid", 0, 0xffffffff},
  {"clock_gettime", 0, 0xffffffff},  /* clockid_t */
  {"clock_settime", 0, 0xffffffff},
  {"sched_setscheduler", 1, 0xffffffff}, /* int policy */
  {"kcmp", 2, 0xffffffff},           /* int type */
  {"memfd_create", 1, 0xffffffff},   /* unsigned int flags */
  {"getrandom", 2, 0xffffffff},      /* unsigned int flags */
  {"accept4", 3, 0xffffffff},        /* int flags */
  {"dup3", 2, 0xffffffff},           /* int flags */
  {"pipe2", 1, 0xffffffff},          /* int flags */
};

uint64_t dj_seccomp_narrow_mask(const char *syscall, unsigned index)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(narrow_args); i++)
    if (narrow_args[i].index == index && strcmp(narrow_args[i].syscall, syscall) == 0)
      return narrow_args[i].mask;
  return 0;
}

static const char *action_name(enum dj_seccomp_action a)
{
  switch (a) {
  case DJ_SCMP_ACT_KILL: return "SCMP_ACT_KILL";
  case DJ_SCMP_ACT_KILL_PROCESS: return "SCMP_ACT_KILL_PROCESS";
  case DJ_SCMP_ACT_KILL_THREAD: return "SCMP_ACT_KILL_THREAD";
  case DJ_SCMP_ACT_TRAP: return "SCMP_ACT_TRAP";
  case DJ_SCMP_ACT_ERRNO: return "SCMP_ACT_ERRNO";
  case DJ_SCMP_ACT_TRACE: return "SCMP_ACT_TRACE";
  case DJ_SCMP_ACT_ALLOW: return "SCMP_ACT_ALLOW";
  case DJ_SCMP_ACT_LOG: return "SCMP_ACT_LOG";
  case DJ_SCMP_ACT_NOTIFY: return "SCMP_ACT_NOTIFY";
  }
  return "(invalid action)";
}

/* The libseccomp action; ERRNO and TRACE carry errno_ret (EPERM when not given, as runc). */
static int action_value(enum dj_seccomp_action a, bool has_errno, uint32_t errno_ret, const char *path,
                        uint32_t *out, dj_err *err)
{
  uint32_t e = has_errno ? errno_ret : EPERM;
  if ((a == DJ_SCMP_ACT_ERRNO || a == DJ_SCMP_ACT_TRACE) && e > 0xffff)
    return dj_error(err, 0, "%s: errno %u does not fit the 16 bits of SECCOMP_RET_DATA", path, e);
  switch (a) {
  case DJ_SCMP_ACT_KILL: *out = SCMP_ACT_KILL; return 0;
  case DJ_SCMP_ACT_KILL_THREAD: *out = SCMP_ACT_KILL_THREAD; return 0;
  case DJ_SCMP_ACT_KILL_PROCESS: *out = SCMP_ACT_KILL_PROCESS; return 0;
  case DJ_SCMP_ACT_TRAP: *out = SCMP_ACT_TRAP; return 0;
  case DJ_SCMP_ACT_ERRNO: *out = SCMP_ACT_ERRNO(e); return 0;
  case DJ_SCMP_ACT_TRACE: *out = SCMP_ACT_TRACE(e); return 0;
  case DJ_SCMP_ACT_ALLOW: *out = SCMP_ACT_ALLOW; return 0;
  case DJ_SCMP_ACT_LOG: *out = SCMP_ACT_LOG; return 0;
  case DJ_SCMP_ACT_NOTIFY:
    return dj_error(err, 0, "%s: SCMP_ACT_NOTIFY is not supported (no seccomp agent)", path);
  }
  return dj_error(err, 0, "%s: invalid action %d", path, (int) a);
}

static int arch_add(scmp_filter_ctx ctx, const char *name, size_t i, dj_err *err)
{
  for (size_t k = 0; k < DJ_ARRAY_SIZE(arch_names); k++) {
    if (strcmp(arch_names[k].name, name) != 0)
      continue;
    int rc = seccomp_arch_add(ctx, arch_names[k].token);
    if (rc < 0 && rc != -EEXIST) /* the native architecture is already there */
      return dj_error(err, -rc, SC_PATH ".architectures[%zu]: add %s", i, name);
    return 0;
  }
  for (size_t k = 0; k < DJ_ARRAY_SIZE(arch_unsupported); k++)
    if (strcmp(arch_unsupported[k], name) == 0)
      return dj_error(err, 0, SC_PATH ".architectures[%zu]: %s is not supported by libseccomp %u.%u.%u",
                      i, name, seccomp_version()->major, seccomp_version()->minor,
                      seccomp_version()->micro);
  return dj_error(err, 0, SC_PATH ".architectures[%zu]: unknown architecture \"%s\"", i, name);
}

static int flag_set(scmp_filter_ctx ctx, const char *name, size_t i, dj_err *err)
{
  enum scmp_filter_attr attr;
  if (strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
    attr = SCMP_FLTATR_CTL_TSYNC;
  else if (strcmp(name, "SECCOMP_FILTER_FLAG_LOG") == 0)
    attr = SCMP_FLTATR_CTL_LOG;
  else if (strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
    attr = SCMP_FLTATR_CTL_SSB;
  else if (strcmp(name, "SECCOMP_FILTER_FLAG_NEW_LISTENER") == 0 ||
           strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH") == 0 ||
           strcmp(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
    return dj_error(err, 0, SC_PATH ".flags[%zu]: %s cannot be set through libseccomp %u.%u.%u", i,
                    name, seccomp_version()->major, seccomp_version()->minor,
                    seccomp_version()->micro);
  else
    return dj_error(err, 0, SC_PATH ".flags[%zu]: unknown flag \"%s\"", i, name);
  int rc = seccomp_attr_set(ctx, attr, 1);
  if (rc < 0)
    return dj_error(err, -rc, SC_PATH ".flags[%zu]: %s", i, name);
  return 0;
}

static const char *op_name(enum dj_seccomp_op op)
{
  switch (op) {
  case DJ_SCMP_NE: return "SCMP_CMP_NE";
  case DJ_SCMP_LT: return "SCMP_CMP_LT";
  case DJ_SCMP_LE: return "SCMP_CMP_LE";
  case DJ_SCMP_EQ: return "SCMP_CMP_EQ";
  case DJ_SCMP_GE: return "SCMP_CMP_GE";
  case DJ_SCMP_GT: return "SCMP_CMP_GT";
  case DJ_SCMP_MASKED_EQ: return "SCMP_CMP_MASKED_EQ";
  }
  return "(invalid op)";
}

/* One OCI condition as alternatives (OR'ed) of libseccomp comparisons: one, except NE on a narrow
 * argument, which is "some bit of the kernel's view differs": one masked compare per bit. */
static int cond_alternatives(const char *syscall, const struct dj_seccomp_arg *a, const char *path,
                             struct scmp_arg_cmp alts[64], unsigned *n, dj_err *err)
{
  static const enum scmp_compare ops[] = {
    [DJ_SCMP_NE] = SCMP_CMP_NE, [DJ_SCMP_LT] = SCMP_CMP_LT, [DJ_SCMP_LE] = SCMP_CMP_LE,
    [DJ_SCMP_EQ] = SCMP_CMP_EQ, [DJ_SCMP_GE] = SCMP_CMP_GE, [DJ_SCMP_GT] = SCMP_CMP_GT,
    [DJ_SCMP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
  };
  if (a->index > 5)
    return dj_error(err, 0, "%s.index: %u is not a syscall argument (0 to 5)", path, a->index);
  if (a->op < DJ_SCMP_NE || a->op > DJ_SCMP_MASKED_EQ)
    return dj_error(err, 0, "%s.op: invalid operator %d", path, (int) a->op);
  uint64_t mask = dj_seccomp_narrow_mask(syscall, a->index);
  *n = 0;
  if (mask == 0) {
    alts[(*n)++] = (struct scmp_arg_cmp){ a->index, ops[a->op], a->value, a->value_two };
    return 0;
  }
  switch (a->op) {
  case DJ_SCMP_EQ:
    alts[(*n)++] = (struct scmp_arg_cmp){ a->index, SCMP_CMP_MASKED_EQ, mask, a->value & mask };
    return 0;
  case DJ_SCMP_MASKED_EQ: /* the kernel never sees the high bits: they cannot take part */
    alts[(*n)++] = (struct scmp_arg_cmp){ a->index, SCMP_CMP_MASKED_EQ, a->value & mask, a->value_two };
    return 0;
  case DJ_SCMP_NE:
    for (unsigned b = 0; b < 64; b++) {
      uint64_t bit = UINT64_C(1) << b;
      if (mask & bit)
        alts[(*n)++] = (struct scmp_arg_cmp){ a->index, SCMP_CMP_MASKED_EQ, bit, ~a->value & bit };
    }
    return 0;
  default:
    /* libseccomp 2.5 cannot mask before an ordered compare, and the high bits would decide it */
    return dj_error(err, 0,
                    "%s: %s on argument %u of %s, which the kernel reads as %s bits, cannot be "
                    "checked safely by libseccomp (use SCMP_CMP_EQ, SCMP_CMP_NE or SCMP_CMP_MASKED_EQ)",
                    path, op_name(a->op), a->index, syscall, mask == 0xffff ? "16" : "32");
  }
}

/* The libseccomp rules (sets of AND'ed comparisons) of one OCI rule for one syscall. Conditions
 * sharing an argument index make each condition its own rule (OR), as runc does; otherwise one
 * rule with all of them (AND). */
struct cmp_sets {
  struct scmp_arg_cmp (*set)[6];
  unsigned *len;
  size_t n;
};

static void cmp_sets_free(struct cmp_sets *s)
{
  free(s->set);
  free(s->len);
  s->set = NULL;
  s->len = NULL;
  s->n = 0;
}

static void cmp_sets_push(struct cmp_sets *s, const struct scmp_arg_cmp *cmps, unsigned len)
{
  if ((s->n & (s->n - 1)) == 0) { /* grow at 0, 1, 2, 4, 8, ... */
    size_t cap = s->n ? 2 * s->n : 1;
    s->set = dj_xrealloc(s->set, cap * sizeof *s->set);
    s->len = dj_xrealloc(s->len, cap * sizeof *s->len);
  }
  if (len > 0)
    memcpy(s->set[s->n], cmps, len * sizeof *cmps);
  s->len[s->n] = len;
  s->n++;
}

static int rule_sets(const char *syscall, const struct dj_seccomp_rule *r, const char *rpath,
                     struct cmp_sets *out, dj_err *err)
{
  unsigned per_index[6] = { 0 };
  bool or_mode = false;
  for (size_t k = 0; k < r->n_args; k++)
    if (r->args[k].index <= 5 && ++per_index[r->args[k].index] > 1)
      or_mode = true;
  if (r->n_args > 6 && !or_mode)
    return dj_error(err, 0, "%s.args: %zu conditions for 6 arguments", rpath, r->n_args);

  struct cmp_sets cur = { 0 };
  cmp_sets_push(&cur, NULL, 0);
  for (size_t k = 0; k < r->n_args; k++) {
    char path[DJ_JPATH_MAX + 32];
    snprintf(path, sizeof path, "%s.args[%zu]", rpath, k);
    struct scmp_arg_cmp alts[64];
    unsigned n_alts = 0;
    if (cond_alternatives(syscall, &r->args[k], path, alts, &n_alts, err) < 0) {
      cmp_sets_free(&cur);
      return -1;
    }
    if (or_mode) {
      for (unsigned a = 0; a < n_alts; a++)
        cmp_sets_push(out, &alts[a], 1);
      if (out->n > DJ_SCMP_MAX_EXPANSION)
        goto too_many;
      continue;
    }
    if (cur.n * n_alts > DJ_SCMP_MAX_EXPANSION)
      goto too_many;
    struct cmp_sets next = { 0 };
    for (size_t s = 0; s < cur.n; s++)
      for (unsigned a = 0; a < n_alts; a++) {
        struct scmp_arg_cmp tmp[6];
        if (cur.len[s] > 0)
          memcpy(tmp, cur.set[s], cur.len[s] * sizeof *tmp);
        tmp[cur.len[s]] = alts[a];
        cmp_sets_push(&next, tmp, cur.len[s] + 1);
      }
    cmp_sets_free(&cur);
    cur = next;
  }
  if (!or_mode) {
    cmp_sets_free(out);
    *out = cur;
  } else {
    cmp_sets_free(&cur);
  }
  return 0;

too_many:
  cmp_sets_free(&cur);
  return dj_error(err, 0, "%s.args: expands to more than %u libseccomp rules", rpath,
                  DJ_SCMP_MAX_EXPANSION);
}

/* What each rule did to each syscall, to find rules libseccomp would silently ignore. */
struct applied {
  int nr;
  uint32_t action;
  bool conditional;
  size_t rule;
  const char *name;
};

static int applied_cmp(const void *a, const void *b)
{
  const struct applied *x = a, *y = b;
  if (x->nr != y->nr)
    return x->nr < y->nr ? -1 : 1;
  return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* libseccomp 2.5 lets an unconditional rule replace every conditional rule of the same syscall,
 * whatever their actions: refuse that instead of dropping the conditional rule without a word.
 * Of two unconditional rules the first applies (libseccomp ignores the second: runc and crun). */
static int check_shadowed(const struct applied *rules, size_t n, dj_err *err)
{
  if (n == 0)
    return 0;
  _cleanup_free_ struct applied *ap = dj_xmalloc(n * sizeof *ap);
  memcpy(ap, rules, n * sizeof *ap);
  qsort(ap, n, sizeof *ap, applied_cmp);
  for (size_t i = 0; i < n;) {
    size_t j = i, u = SIZE_MAX;
    for (; j < n && ap[j].nr == ap[i].nr; j++)
      if (!ap[j].conditional && u == SIZE_MAX)
        u = j;
    for (size_t c = i; u != SIZE_MAX && c < j; c++) {
      if (ap[c].action == ap[u].action)
        continue;
      if (!ap[c].conditional) {
        /* Two unconditional rules: libseccomp keeps the first and ignores the second, so runc and
         * crun apply the first. podman's default profile does this (setns allowed, then denied
         * without CAP_SYS_ADMIN): the first wins here too, and the dropped rule is reported. */
        dj_log_info(SC_PATH ".syscalls[%zu]: %s: the unconditional rule of " SC_PATH ".syscalls[%zu] "
                    "comes first and applies (as with runc and crun); this one is ignored",
                    ap[c].rule, ap[c].name, ap[u].rule);
        continue;
      }
      return dj_error(err, 0,
                        SC_PATH ".syscalls[%zu]: %s: this rule's action differs from the "
                        "unconditional rule of " SC_PATH ".syscalls[%zu], which libseccomp applies "
                        "to every call of %s instead (give the exception's complement as conditions)",
                        ap[c].rule, ap[c].name, ap[u].rule, ap[u].name);
    }
    i = j;
  }
  return 0;
}

static void unknown_push(char ***v, size_t *n, const char *name)
{
  if ((*n & (*n + 1)) == 0) /* grow at 1, 3, 7, ...: room for the NULL too */
    *v = dj_xrealloc(*v, (2 * *n + 2) * sizeof **v);
  (*v)[(*n)++] = dj_xstrdup(name);
  (*v)[*n] = NULL;
}

static int str_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Each unknown name once, sorted. */
static void unknown_unique(char **v, size_t n)
{
  if (n < 2)
    return;
  qsort(v, n, sizeof *v, str_cmp);
  size_t w = 1;
  for (size_t i = 1; i < n; i++) {
    if (strcmp(v[i], v[w - 1]) == 0)
      free(v[i]);
    else
      v[w++] = v[i];
  }
  v[w] = NULL;
}

static void applied_push(struct applied **ap, size_t *n, struct applied a)
{
  if ((*n & (*n - 1)) == 0) /* grow at 0, 1, 2, 4, 8, ... */
    *ap = dj_xrealloc(*ap, (*n ? 2 * *n : 1) * sizeof **ap);
  (*ap)[(*n)++] = a;
}

/* Which rule applies to which syscall, before libseccomp sees any (it leaks the conditional rules an
 * unconditional one replaces, and those are refused anyway). */
static int rules_plan(const struct dj_seccomp *sc, uint32_t def, char ***unknown, size_t *n_unknown,
                      struct applied **ap, size_t *n_ap, dj_err *err)
{
  for (size_t i = 0; i < sc->n_rules; i++) {
    const struct dj_seccomp_rule *r = &sc->rules[i];
    char apath[DJ_JPATH_MAX];
    snprintf(apath, sizeof apath, SC_PATH ".syscalls[%zu].action", i);
    uint32_t act;
    if (action_value(r->action, r->has_errno_ret, r->errno_ret, apath, &act, err) < 0)
      return -1;
    if (act == def) /* libseccomp refuses these; runc skips them */
      continue;
    for (size_t k = 0; k < r->n_names; k++) {
      int nr = seccomp_syscall_resolve_name(r->names[k]);
      if (nr == __NR_SCMP_ERROR) {
        unknown_push(unknown, n_unknown, r->names[k]);
        continue;
      }
      applied_push(ap, n_ap, (struct applied){ nr, act, r->n_args > 0, i, r->names[k] });
    }
  }
  return 0;
}

/* Checked first in the filter's linear scan: the calls a workload makes most. libseccomp's binary
 * tree (SCMP_FLTATR_CTL_OPTIMIZE 2) would cost each start twice the BPF generation time. */
static const char *const hot_syscalls[] = {
  "read", "write", "futex", "epoll_wait", "epoll_pwait", "recvfrom", "sendto", "recvmsg", "sendmsg",
  "readv", "writev", "pread64", "pwrite64", "close", "openat", "newfstatat", "fstat", "lseek", "mmap",
  "munmap", "mprotect", "madvise", "brk", "poll", "ppoll", "rt_sigprocmask", "clock_nanosleep",
  "nanosleep", "sched_yield", "getpid", "gettid", "fcntl", "ioctl", "accept4",
};

static void hot_first(scmp_filter_ctx ctx, const struct applied *ap, size_t n_ap)
{
  for (size_t h = 0; h < DJ_ARRAY_SIZE(hot_syscalls); h++) {
    int nr = seccomp_syscall_resolve_name(hot_syscalls[h]);
    for (size_t i = 0; nr != __NR_SCMP_ERROR && i < n_ap; i++)
      if (ap[i].nr == nr) { /* only syscalls with a rule: a hint alone must not create one */
        (void) seccomp_syscall_priority(ctx, nr, (uint8_t) (255 - h));
        break;
      }
  }
}

static int rules_add(scmp_filter_ctx ctx, const struct dj_seccomp *sc, const struct applied *ap,
                     size_t n_ap, dj_err *err)
{
  for (size_t i = 0; i < n_ap; i++) {
    const struct dj_seccomp_rule *r = &sc->rules[ap[i].rule];
    char rpath[DJ_JPATH_MAX];
    snprintf(rpath, sizeof rpath, SC_PATH ".syscalls[%zu]", ap[i].rule);
    struct cmp_sets sets = { 0 };
    if (rule_sets(ap[i].name, r, rpath, &sets, err) < 0) {
      cmp_sets_free(&sets);
      return -1;
    }
    int rc = 0;
    for (size_t s = 0; rc == 0 && s < sets.n; s++)
      rc = seccomp_rule_add_array(ctx, ap[i].action, ap[i].nr, sets.len[s], sets.set[s]);
    cmp_sets_free(&sets);
    if (rc == -EEXIST)
      return dj_error(err, 0, "%s: %s: an earlier rule gives the same conditions another action", rpath,
                      ap[i].name);
    if (rc < 0)
      return dj_error(err, -rc, "%s: %s: add the rule (%s)", rpath, ap[i].name, action_name(r->action));
  }
  return 0;
}

int dj_seccomp_build(const struct dj_seccomp *sc, scmp_filter_ctx *out, char ***unknown, dj_err *err)
{
  *out = NULL;
  *unknown = NULL;
  uint32_t def;
  if (action_value(sc->default_action, sc->has_default_errno_ret, sc->default_errno_ret,
                   SC_PATH ".defaultAction", &def, err) < 0)
    return -1;
  scmp_filter_ctx ctx = seccomp_init(def);
  if (ctx == NULL)
    return dj_error(err, ENOMEM, SC_PATH ": seccomp_init");
  char **unk = NULL;
  size_t n_unk = 0;
  struct applied *ap = NULL;
  size_t n_ap = 0;
  int rc;
  /* no_new_privs is process.noNewPrivileges's business; KILL_PROCESS so no half-dead threads */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
      (rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
                             seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_KILL)) < 0) {
    dj_error(err, -rc, SC_PATH ": set the filter attributes");
    goto fail;
  }
  for (size_t i = 0; i < sc->n_architectures; i++)
    if (arch_add(ctx, sc->architectures[i], i, err) < 0)
      goto fail;
  for (size_t i = 0; i < sc->n_flags; i++)
    if (flag_set(ctx, sc->flags[i], i, err) < 0)
      goto fail;
  if (rules_plan(sc, def, &unk, &n_unk, &ap, &n_ap, err) < 0 || check_shadowed(ap, n_ap, err) < 0 ||
      rules_add(ctx, sc, ap, n_ap, err) < 0)
    goto fail;
  hot_first(ctx, ap, n_ap);
  unknown_unique(unk, n_unk);
  free(ap);
  *out = ctx;
  *unknown = unk;
  return 0;

fail:
  free(ap);
  dj_strvfreep(&unk);
  seccomp_release(ctx);
  return -1;
}

/* The action the profile takes for every call of name, whatever its arguments; false when it
 * depends on the arguments (then only the call itself can tell). */
static bool unconditional_action(const struct dj_seccomp *sc, const char *name, uint32_t def,
                                 uint32_t *act, size_t *rule)
{
  bool conditional = false;
  for (size_t i = 0; i < sc->n_rules; i++) {
    const struct dj_seccomp_rule *r = &sc->rules[i];
    for (size_t k = 0; k < r->n_names; k++) {
      if (strcmp(r->names[k], name) != 0)
        continue;
      uint32_t a;
      dj_err ignored;
      if (action_value(r->action, r->has_errno_ret, r->errno_ret, "", &a, &ignored) < 0)
        continue;
      if (r->n_args == 0) {
        *act = a;
        *rule = i;
        return true;
      }
      conditional = true;
    }
  }
  *act = def;
  *rule = SIZE_MAX;
  return !conditional;
}

static void action_text(uint32_t act, char buf[32])
{
  if ((act & 0xffff0000u) == SCMP_ACT_ERRNO(0))
    snprintf(buf, 32, "SCMP_ACT_ERRNO(%u)", act & 0xffffu);
  else if ((act & 0xffff0000u) == SCMP_ACT_TRACE(0))
    snprintf(buf, 32, "SCMP_ACT_TRACE(%u)", act & 0xffffu);
  else if (act == SCMP_ACT_KILL_PROCESS)
    snprintf(buf, 32, "SCMP_ACT_KILL_PROCESS");
  else if (act == SCMP_ACT_KILL_THREAD)
    snprintf(buf, 32, "SCMP_ACT_KILL_THREAD");
  else if (act == SCMP_ACT_TRAP)
    snprintf(buf, 32, "SCMP_ACT_TRAP");
  else
    snprintf(buf, 32, "action %#x", act);
}

int dj_seccomp_check_runtime_steps(const struct dj_seccomp *sc, bool caps_after_load, dj_err *err)
{
  static const char *const always[] = {"execve"};
  static const char *const caps[] = {"capset", "prctl"};
  uint32_t def;
  if (action_value(sc->default_action, sc->has_default_errno_ret, sc->default_errno_ret,
                   SC_PATH ".defaultAction", &def, err) < 0)
    return -1;
  for (size_t g = 0; g < 2; g++) {
    const char *const *names = g == 0 ? always : caps;
    size_t n = g == 0 ? DJ_ARRAY_SIZE(always) : (caps_after_load ? DJ_ARRAY_SIZE(caps) : 0);
    for (size_t i = 0; i < n; i++) {
      uint32_t act;
      size_t rule;
      if (!unconditional_action(sc, names[i], def, &act, &rule) || act == SCMP_ACT_ALLOW ||
          act == SCMP_ACT_LOG)
        continue;
      const char *why = g == 0 ? "the runtime starts the process with it after loading the filter"
                               : "without noNewPrivileges the filter is loaded before the runtime "
                                 "drops capabilities with it";
      char text[32];
      action_text(act, text);
      if (rule == SIZE_MAX)
        return dj_error(err, 0, SC_PATH ".defaultAction: denies %s (%s), but %s", names[i], text, why);
      return dj_error(err, 0, SC_PATH ".syscalls[%zu]: denies %s (%s), but %s", rule, names[i], text,
                      why);
    }
  }
  return 0;
}

int dj_seccomp_load(scmp_filter_ctx ctx, dj_err *err)
{
  int rc = seccomp_load(ctx);
  if (rc < 0)
    return dj_error(err, -rc, "load the seccomp filter");
  return 0;
}
