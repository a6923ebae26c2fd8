/* libFuzzer harness: untrusted bytes as a whole config.json, through the JSON loader and the spec
 * parser (every property, every error path), the hooks check, and back out through dj_spec_free. */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "sandbox/hooks.h"
#include "sandbox/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dj_err err = { 0 };
  _cleanup_json_ json_t *doc = NULL;
  if (size > DJ_SPEC_MAX_SIZE || dj_json_load_buf((const char *) data, size, &doc, &err) < 0)
    return 0;
  struct dj_spec *spec = NULL;
  if (dj_spec_parse(doc, &spec, &err) == 0) {
    dj_hooks_check(spec->hooks, &err);
    dj_spec_free(spec);
  }
  return 0;
}
