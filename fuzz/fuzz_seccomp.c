/* libFuzzer harness: untrusted bytes as the linux.seccomp object of a config.json, through the
 * spec parser and the libseccomp translation (dj_seccomp_build, the runtime-steps check). */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libseccomp 2.5.4 leaks rule nodes when it rewrites rules of multiplexed syscalls (x86 socketcall;
 * reproduced with its plain API). Its frames have no frame pointers, so only the module can be
 * matched at fuzzing speed; this also hides a filter context we would leak, which the build's
 * error paths (one seccomp_release each) must keep from happening. */
const char *__lsan_default_suppressions(void)
{
  return "leak:libseccomp.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dj_err err = { 0 };
  json_t *sc = NULL;
  if (size > 65536 || dj_json_load_buf((const char *) data, size, &sc, &err) < 0)
    return 0;
  /* the smallest valid config around it, so the fuzzer spends its time in linux.seccomp */
  _cleanup_json_ json_t *doc =
    json_pack("{s:s, s:{s:s}, s:{s:[s], s:s, s:{s:i, s:i}, s:{}}, s:{s:o}}", "ociVersion", "1.2.0",
              "root", "path", "rootfs", "process", "args", "/bin/true", "cwd", "/", "user", "uid", 0,
              "gid", 0, "capabilities", "linux", "seccomp", sc);
  if (doc == NULL)
    return 0;
  _cleanup_spec_ struct dj_spec *spec = NULL;
  if (dj_spec_parse(doc, &spec, &err) < 0 || spec->seccomp == NULL)
    return 0;
  scmp_filter_ctx ctx = NULL;
  _cleanup_strv_ char **unknown = NULL;
  if (dj_seccomp_build(spec->seccomp, &ctx, &unknown, &err) == 0)
    seccomp_release(ctx);
  (void) dj_seccomp_check_runtime_steps(spec->seccomp, true, &err);
  return 0;
}
