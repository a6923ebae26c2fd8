#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static char line[8192];

static void read_line(int fd)
{
  ssize_t n = read(fd, line, sizeof line - 1);
  cr_assert_gt(n, 0);
  line[n] = '\0';
}

Test(log, json_lines_have_level_msg_and_time_as_go_runc_reads_them)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  dj_log_setup(p[1], DJ_LOG_JSON, DJ_LOG_INFO);
  dj_log_warn("container %s: \"quoted\" and\nnewline", "c1");
  read_line(p[0]);
  cr_assert_eq(line[strlen(line) - 1], '\n', "one line per record");
  cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "no raw newline inside: %s", line);
  json_error_t je;
  json_t *o = json_loads(line, 0, &je);
  cr_assert_not_null(o, "%s: %s", je.text, line);
  cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "warning");
  cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "container c1: \"quoted\" and\nnewline");
  const char *t = json_string_value(json_object_get(o, "time"));
  cr_assert_not_null(t);
  cr_assert_eq(strlen(t), strlen("2026-11-23T20:00:00.123456789Z"), "RFC 3339 with nanoseconds: %s", t);
  cr_assert_eq(t[10], 'T');
  json_decref(o);
}

Test(log, level_filters_and_text_format)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  dj_log_setup(p[1], DJ_LOG_TEXT, DJ_LOG_WARNING);
  dj_log_debug("not shown");
  dj_log_error("shown %d", 42);
  read_line(p[0]);
  cr_assert(strstr(line, "not shown") == NULL, "%s", line);
  cr_assert(strstr(line, " error: shown 42\n") != NULL, "%s", line);
  enum dj_log_format f;
  cr_assert_eq(dj_log_format_parse("json", &f), 0);
  cr_assert_eq(f, DJ_LOG_JSON);
  cr_assert_eq(dj_log_format_parse("yaml", &f), -1);
}
