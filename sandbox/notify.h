/* NOTIFY_SOCKET (sd_notify) as runc handles it: when `create` runs with NOTIFY_SOCKET set, the
 * container gets a read-only bind of --root/ID/notify at /run/notify and NOTIFY_SOCKET=
 * /run/notify/notify.sock; `start` binds that socket, lets the process run, waits for its
 * READY=1 (or its exit) and sends READY=1 and MAINPID=<the init's pid> to the caller's
 * NOTIFY_SOCKET, then returns; nothing else of the container's message is passed on (it is
 * untrusted: runc forwards it whole). podman's --sdnotify=container works this way. */
#ifndef DJ_NOTIFY_H
#define DJ_NOTIFY_H

#include <sys/types.h>

#include "common/err.h"
#include "sandbox/spec.h"

#define DJ_NOTIFY_DIR "/run/notify"
#define DJ_NOTIFY_SOCKET DJ_NOTIFY_DIR "/notify.sock"

/* create: the config with the bind mount and the environment variable added (re-parsed). */
int dj_notify_prepare(struct dj_spec **spec, const char *root, const char *id, dj_err *err);
/* create: make root/id/notify, the bind mount's source. */
int dj_notify_mkdir(const char *root, const char *id, dj_err *err);
/* start: bind root/id/notify/notify.sock (SOCK_DGRAM); returns its fd. */
int dj_notify_listen(const char *root, const char *id, dj_err *err);
/* start: wait for a message with READY=1 on fd (or for the init's exit: pidfd), then send
 * "READY=1\nMAINPID=pid\n" to host_socket (a path, or @name for an abstract socket). */
int dj_notify_relay(int fd, int pidfd, pid_t pid, const char *host_socket, dj_err *err);

#endif
