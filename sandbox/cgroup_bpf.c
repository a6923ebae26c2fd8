/* The v2 device allowlist: linux.resources.devices compiled to a BPF_PROG_TYPE_CGROUP_DEVICE
 * program (the rules tried last to first, the first match returning, so the last rule wins as in
 * runc and crun), loaded with bpf(2) and attached to the cgroup with BPF_CGROUP_DEVICE. */
#include "sandbox/cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* Instructions as the kernel's own samples spell them (include/linux/filter.h is not uapi). */
#define INSN(c, d, s, o, i) ((struct bpf_insn) { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define MOV32_REG(dst, src) INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV32_IMM(dst, imm) INSN(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define AND32_IMM(dst, imm) INSN(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)
#define RSH32_IMM(dst, imm) INSN(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm)
#define JNE_IMM(dst, imm, off) INSN(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
#define JEQ_REG(dst, src, off) INSN(BPF_JMP | BPF_JEQ | BPF_X, dst, src, off, 0)
#define JA(off) INSN(BPF_JMP | BPF_JA, 0, 0, off, 0)
#define JEQ_IMM(dst, imm, off) INSN(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers after the prologue: r2 type, r3 access, r4 major, r5 minor (r1 is scratch). */
enum { R0, R1, R2, R3, R4, R5 };

static int access_mask(const char *access, int32_t *mask)
{
  int32_t m = 0;
  for (const char *p = access[0] ? access : "rwm"; *p != '\0'; p++) {
    switch (*p) {
    case 'r': m |= BPF_DEVCG_ACC_READ; break;
    case 'w': m |= BPF_DEVCG_ACC_WRITE; break;
    case 'm': m |= BPF_DEVCG_ACC_MKNOD; break;
    default: return -1;
    }
  }
  *mask = m;
  return 0;
}

/* Append one rule's block. Each check jumps over a JA to the next check when it matches and falls
 * through to the JA (to the next block) when it does not: the verifier explores fall-throughs
 * first, so the next block is first verified with the general state and the narrowed states of
 * matching paths are pruned against it. With the jumps the other way round, every block walked the
 * rest of the program again, and a few hundred rules hit the verifier's 1M-instruction limit. */
static int emit_rule(const struct dj_device_rule *d, struct bpf_insn *out, size_t *n, bool *catch_all, dj_err *err)
{
  int32_t mask;
  if (access_mask(d->access, &mask) < 0)
    return dj_error(err, EINVAL, "device rule access \"%s\"", d->access);
  if (d->type != 'a' && d->type != 'c' && d->type != 'b')
    return dj_error(err, EINVAL, "device rule type '%c'", d->type);
  if (d->major > INT32_MAX || d->minor > INT32_MAX)
    return dj_error(err, EINVAL, "device rule %" PRId64 ":%" PRId64 " out of range", d->major, d->minor);
  bool check_type = d->type != 'a';
  bool check_access = mask != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD);
  /* A type 'a' rule matches any device, whatever major and minor say (as in v1). */
  bool check_major = check_type && d->major >= 0, check_minor = check_type && d->minor >= 0;
  size_t start = *n, k = *n;
  size_t end = start + 2 * check_type + 4 * check_access + 2 * check_major + 2 * check_minor + 2;
#define TO_NEXT_BLOCK() (out[k] = JA((int16_t) (end - (k + 1))), k++)
  if (check_type) {
    out[k++] = JEQ_IMM(R2, d->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, 1);
    TO_NEXT_BLOCK();
  }
  if (check_access) {
    /* An allow rule grants a request only if it covers every access asked; a deny rule refuses
     * it as soon as it names one of them (v1's semantics: deny "w" then an "rw" open fails). */
    out[k++] = MOV32_REG(R1, R3);
    out[k++] = AND32_IMM(R1, mask);
    out[k++] = d->allow ? JEQ_REG(R1, R3, 1) : JNE_IMM(R1, 0, 1);
    TO_NEXT_BLOCK();
  }
  if (check_major) {
    out[k++] = JEQ_IMM(R4, (int32_t) d->major, 1);
    TO_NEXT_BLOCK();
  }
  if (check_minor) {
    out[k++] = JEQ_IMM(R5, (int32_t) d->minor, 1);
    TO_NEXT_BLOCK();
  }
#undef TO_NEXT_BLOCK
  out[k++] = MOV32_IMM(R0, d->allow ? 1 : 0);
  out[k++] = EXIT();
  *n = k;
  *catch_all = !check_type && !check_access;
  return 0;
}

static int build_program(const struct dj_device_rule *rules, size_t n_rules, struct bpf_insn **out, size_t *n,
                         dj_err *err)
{
  /* 6 prologue + at most 12 per rule + 2 epilogue */
  struct bpf_insn *p = dj_xcalloc(6 + 12 * n_rules + 2, sizeof *p);
  size_t k = 0;
  p[k++] = LDX_W(R2, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
  p[k++] = AND32_IMM(R2, 0xffff);
  p[k++] = LDX_W(R3, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
  p[k++] = RSH32_IMM(R3, 16);
  p[k++] = LDX_W(R4, R1, offsetof(struct bpf_cgroup_dev_ctx, major));
  p[k++] = LDX_W(R5, R1, offsetof(struct bpf_cgroup_dev_ctx, minor));
  bool catch_all = false;
  for (size_t i = n_rules; i-- > 0 && !catch_all;) {
    if (emit_rule(&rules[i], p, &k, &catch_all, err) < 0) {
      free(p);
      return dj_err_wrap(err, "device rule %zu", i);
    }
  }
  if (!catch_all) { /* no rule matched: deny (the verifier refuses code after a catch-all) */
    p[k++] = MOV32_IMM(R0, 0);
    p[k++] = EXIT();
  }
  *out = p;
  *n = k;
  return 0;
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
  return (int) syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

int dj_cgroup_bpf_devices(const char *dir, const struct dj_device_rule *rules, size_t n, dj_err *err)
{
  _cleanup_free_ struct bpf_insn *prog = NULL;
  size_t n_insns = 0;
  if (build_program(rules, n, &prog, &n_insns, err) < 0)
    return dj_err_wrap(err, "device program");
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t) (uintptr_t) prog;
  load.insn_cnt = (uint32_t) n_insns;
  load.license = (uint64_t) (uintptr_t) "GPL";
  _cleanup_close_ int prog_fd = sys_bpf(BPF_PROG_LOAD, &load);
  if (prog_fd < 0) {
    /* Again with the verifier's log, only now: a log too small for a long program fails a load. */
    int e = errno;
    char log[4096] = "";
    load.log_buf = (uint64_t) (uintptr_t) log;
    load.log_size = sizeof log;
    load.log_level = 1;
    int again = sys_bpf(BPF_PROG_LOAD, &load);
    if (again >= 0)
      close(again);
    size_t len = strnlen(log, sizeof log - 1); /* the verifier's verdict is its last line */
    while (len > 0 && log[len - 1] == '\n')
      log[--len] = '\0';
    const char *last = strrchr(log, '\n') ? strrchr(log, '\n') + 1 : log;
    return dj_error(err, e, "load the device program (%zu instructions)%s%s", n_insns, last[0] ? ": " : "", last);
  }
  _cleanup_close_ int cg_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg_fd < 0)
    return dj_error(err, errno, "open %s", dir);
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = (uint32_t) cg_fd;
  attach.attach_bpf_fd = (uint32_t) prog_fd;
  attach.attach_type = BPF_CGROUP_DEVICE;
  /* Programs of parents keep running too: a container can only narrow what the host allows. */
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attach) < 0)
    return dj_error(err, errno, "attach the device program to %s", dir);
  return 0; /* the attachment holds the program: the fd can close */
}
