/* JSON helpers on jansson: bounded loading and typed getters whose errors name the JSON path
 * ("linux.seccomp.syscalls[3].action: expected a string, got integer"). */
#ifndef DJ_JSON_H
#define DJ_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_JPATH_MAX 512

void dj_json_decrefp(json_t **j);
#define _cleanup_json_ __attribute__((cleanup(dj_json_decrefp)))

/* Parse a document; refuses duplicate keys and anything but an object at the top. */
int dj_json_load_buf(const char *buf, size_t len, json_t **out, dj_err *err);
/* Read at most max_size bytes of a file (larger: an error) and parse it. */
int dj_json_load_file(const char *file, size_t max_size, json_t **out, dj_err *err);
int dj_json_load_fd(int fd, size_t max_size, json_t **out, dj_err *err);

/* Build child paths: "parent.key" (or "key" at the top) and "parent[idx]". */
void dj_jpath_key(char out[DJ_JPATH_MAX], const char *parent, const char *key);
void dj_jpath_index(char out[DJ_JPATH_MAX], const char *parent, size_t idx);

const char *dj_json_type_name(const json_t *j);

/* Optional members: return 0 when absent or null (out untouched), 1 when present and of the
 * right type, -1 (err filled, path named) when of another type or out of range. */
int dj_json_opt_string(json_t *obj, const char *key, const char *path, const char **out, dj_err *err);
int dj_json_opt_bool(json_t *obj, const char *key, const char *path, bool *out, dj_err *err);
int dj_json_opt_int64(json_t *obj, const char *key, const char *path, int64_t min, int64_t max,
                      int64_t *out, dj_err *err);
/* Unsigned 64-bit: also accepts integers jansson stored negative because they exceed INT64_MAX? No:
 * jansson cannot represent them; values above INT64_MAX are refused by the parser. */
int dj_json_opt_uint64(json_t *obj, const char *key, const char *path, uint64_t max, uint64_t *out,
                       dj_err *err);
int dj_json_opt_object(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);
int dj_json_opt_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);

/* Required members: -1 with "PATH.key: missing" when absent. */
int dj_json_req_string(json_t *obj, const char *key, const char *path, const char **out, dj_err *err);
int dj_json_req_object(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);
int dj_json_req_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err);

/* An array of strings as a NULL-terminated vector of borrowed pointers (valid while the
 * document lives; free the vector only). */
int dj_json_string_vector(json_t *arr, const char *path, const char ***out, size_t *n, dj_err *err);

/* Compact, key-sorted serialisation: the canonical form digests are computed over.
 * Returns a malloc'd string or NULL. */
char *dj_json_canonical(const json_t *j);

#endif
