/* process.terminal: a pty whose slave is the container's stdio and /dev/console, and whose master
 * donjon relays to its own stdio when the container runs in the foreground. */
#ifndef DJ_CONSOLE_H
#define DJ_CONSOLE_H

#include <stdbool.h>
#include <termios.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* Open a new pty pair (close-on-exec both); size from process.consoleSize, else from our own
 * terminal when stdin is one. */
int dj_console_open(const struct dj_process *p, int *master, int *slave, dj_err *err);
/* Make the slave the calling process's controlling terminal and stdio (in the container init,
 * after setsid). */
int dj_console_attach(int slave, dj_err *err);
/* Copy our terminal's window size to the pty (on SIGWINCH). */
void dj_console_resize_from(int from_fd, int master);
/* Put our own terminal in raw mode while relaying; restore it afterwards. */
bool dj_console_raw(int fd, struct termios *saved);
void dj_console_restore(int fd, const struct termios *saved);

#endif
