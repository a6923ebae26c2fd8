#include <criterion/criterion.h>
#include <string.h>

#include "common/json.h"

static json_t *load(const char *s)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_load_buf(s, strlen(s), &j, &err), 0, "%s", err.msg);
  return j;
}

Test(json, refuses_duplicate_keys_and_non_objects)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_load_buf("{\"a\":1,\"a\":2}", 13, &j, &err), -1);
  cr_assert(strstr(err.msg, "duplicate") != NULL, "%s", err.msg);
  cr_assert_eq(dj_json_load_buf("[1]", 3, &j, &err), -1);
  cr_assert_str_eq(err.msg, "expected a JSON object, got array");
}

Test(json, typed_getters_name_the_path)
{
  _cleanup_json_ json_t *j = load("{\"s\":\"x\",\"i\":5,\"b\":true,\"n\":null}");
  const char *s = NULL;
  int64_t i = 0;
  bool b = false;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_opt_string(j, "s", "process", &s, &err), 1);
  cr_assert_str_eq(s, "x");
  cr_assert_eq(dj_json_opt_string(j, "missing", "process", &s, &err), 0);
  cr_assert_eq(dj_json_opt_string(j, "n", "process", &s, &err), 0);
  cr_assert_eq(dj_json_opt_bool(j, "b", "", &b, &err), 1);
  cr_assert(b);
  cr_assert_eq(dj_json_opt_int64(j, "i", "linux.resources", 0, 4, &i, &err), -1);
  cr_assert_str_eq(err.msg, "linux.resources.i: 5 is out of range [0, 4]");
  cr_assert_eq(dj_json_opt_string(j, "i", "process", &s, &err), -1);
  cr_assert_str_eq(err.msg, "process.i: expected a string, got integer");
  cr_assert_eq(dj_json_req_string(j, "args", "process", &s, &err), -1);
  cr_assert_str_eq(err.msg, "process.args: missing");
}

Test(json, string_vectors_and_paths)
{
  _cleanup_json_ json_t *j = load("{\"a\":[\"x\",\"y\",3]}");
  const char **v = NULL;
  size_t n = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_string_vector(json_object_get(j, "a"), "process.args", &v, &n, &err), -1);
  cr_assert_str_eq(err.msg, "process.args[2]: expected a string, got integer");
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, "", "linux");
  cr_assert_str_eq(p, "linux");
  dj_jpath_index(p, "linux.seccomp.syscalls", 3);
  cr_assert_str_eq(p, "linux.seccomp.syscalls[3]");
}

Test(json, canonical_form_sorts_keys)
{
  _cleanup_json_ json_t *j = load("{\"b\": 1, \"a\": {\"d\": 2, \"c\": 3}}");
  char *s = dj_json_canonical(j);
  cr_assert_str_eq(s, "{\"a\":{\"c\":3,\"d\":2},\"b\":1}");
  free(s);
}
