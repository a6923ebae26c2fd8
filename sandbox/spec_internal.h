/* Shared by spec.c and spec_linux.c only. */
#ifndef DJ_SPEC_INTERNAL_H
#define DJ_SPEC_INTERNAL_H

#include <stdbool.h>

#include "common/json.h"
#include "sandbox/spec.h"

#define TRY(x) do { if ((x) < 0) return -1; } while (0)
/* The value of an optional getter (0 absent, 1 present), returning -1 on its error. */
#define TRY_R(x) ({ int r_ = (x); if (r_ < 0) return -1; r_; })

__attribute__((format(printf, 3, 4))) int spec_perr(dj_err *err, const char *path, const char *fmt, ...);
const char *spec_key_path(char buf[DJ_JPATH_MAX], const char *parent, const char *key);
const char *spec_idx_path(char buf[DJ_JPATH_MAX], const char *parent, size_t idx);
bool spec_json_nonempty(const json_t *v);
int spec_refuse_unsupported(json_t *obj, const char *key, const char *path, dj_err *err);
int spec_check_abs(const char *path, const char *v, dj_err *err);
int spec_opt_u32(json_t *o, const char *k, const char *path, uint32_t *out, bool *has, dj_err *err);
int spec_req_i64(json_t *o, const char *k, const char *path, int64_t min, int64_t max, int64_t *out, dj_err *err);
int spec_req_u32(json_t *o, const char *k, const char *path, uint32_t *out, dj_err *err);
int spec_opt_object_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);
int spec_opt_path_vector(json_t *obj, const char *key, const char *path, const char ***out, size_t *n, dj_err *err);
int spec_opt_string_map(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);

/* The seccomp names the linux section accepts (spec_linux.c). */
const char *const *spec_linux_names(enum dj_spec_names kind);

/* The linux section (spec_linux.c). */
int dj_spec_parse_linux(struct dj_spec *s, json_t *root, dj_err *err);

#endif
