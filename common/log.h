/* Logging: libraries report errors through dj_err, not here; they log only what is no error (a
 * failed poststart hook's warning) and, for --debug, a line at each lifecycle step.
 * Text: "TIME LEVEL: MSG"; JSON lines: {"level":..., "msg":..., "time":...} as go-runc parses
 * them. Never pass secrets to these functions. */
#ifndef DJ_LOG_H
#define DJ_LOG_H

#include <stdbool.h>

enum dj_log_level { DJ_LOG_ERROR = 0, DJ_LOG_WARNING, DJ_LOG_INFO, DJ_LOG_DEBUG };
enum dj_log_format { DJ_LOG_TEXT = 0, DJ_LOG_JSON };

/* fd: where lines go (default 2). A fd >= 0 given here is owned by the logger. */
void dj_log_setup(int fd, enum dj_log_format format, enum dj_log_level level);
/* Parse "text"/"json"; -1 on anything else. */
int dj_log_format_parse(const char *s, enum dj_log_format *out);
enum dj_log_level dj_log_get_level(void);
int dj_log_get_fd(void);
enum dj_log_format dj_log_get_format(void);

void dj_log(enum dj_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define dj_log_error(...) dj_log(DJ_LOG_ERROR, __VA_ARGS__)
#define dj_log_warn(...) dj_log(DJ_LOG_WARNING, __VA_ARGS__)
#define dj_log_info(...) dj_log(DJ_LOG_INFO, __VA_ARGS__)
#define dj_log_debug(...) dj_log(DJ_LOG_DEBUG, __VA_ARGS__)

#endif
