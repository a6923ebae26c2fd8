/* process.terminal: a pty whose slave is the container's stdio and /dev/console, and whose master
 * donjon relays to its own stdio when the container runs in the foreground. */
#ifndef DJ_CONSOLE_H
#define DJ_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* Open a new pty pair (close-on-exec both); size from process.consoleSize, else from our own
 * terminal when stdin is one. */
int dj_console_open(const struct dj_process *p, int *master, int *slave, dj_err *err);
/* Open a new pty from the container's own devpts: rootfd/dev/ptmx, resolved inside rootfd (the
 * container's root, before or after pivot), checked to be a devpts ptmx; the slave through the
 * master (TIOCGPTPEER). Size from process.consoleSize. Both close-on-exec. */
int dj_console_open_in_root(const struct dj_process *p, int rootfd, int *master, int *slave, dj_err *err);
/* --console-socket: connect to the orchestrator's unix socket (close-on-exec fd). */
int dj_console_socket_connect(const char *path, dj_err *err);
/* Send the pty master over a connected unix socket with SCM_RIGHTS, as runc does. */
int dj_console_send(int sock, int master, dj_err *err);
/* One message with one fd (SCM_RIGHTS) over a unix socket. recv: the bytes read (0 at EOF), *fd
 * the fd received (close-on-exec) or -1 when the message carried none. */
int dj_fd_send(int sock, int fd, const void *data, size_t len, dj_err *err);
ssize_t dj_fd_recv(int sock, void *data, size_t len, int *fd, dj_err *err);
/* Make the slave the calling process's controlling terminal and stdio (in the container init,
 * after setsid). */
int dj_console_attach(int slave, dj_err *err);
/* Copy our terminal's window size to the pty (on SIGWINCH). */
void dj_console_resize_from(int from_fd, int master);
/* Put our own terminal in raw mode while relaying; restore it afterwards. */
bool dj_console_raw(int fd, struct termios *saved);
void dj_console_restore(int fd, const struct termios *saved);

#endif
