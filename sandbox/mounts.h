/* Internal to the rootfs code (rootfs.c, mounts.c, devices.c): mounts made by file descriptor with
 * the new mount API (fsopen/fsconfig/fsmount, open_tree, mount_setattr, move_mount). */
#ifndef DJ_MOUNTS_H
#define DJ_MOUNTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* The raw syscalls (called through syscall(2), independent of the libc's wrappers). */
int dj_sys_fsopen(const char *fstype, unsigned flags);
int dj_sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux);
int dj_sys_fsmount(int fd, unsigned flags, unsigned attr);
int dj_sys_open_tree(int dfd, const char *path, unsigned flags);
int dj_sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags);
int dj_sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr);

/* MS_* flags of a mount to the MOUNT_ATTR_* flags to set and to clear. */
void dj_mount_attr_from_flags(unsigned long set, unsigned long clear, struct mount_attr *attr);

/* A new detached filesystem: type with source and comma-separated data options ("k=v" or
 * "flag"), mounted with MOUNT_ATTR_* attr. what names it in errors. Returns the mount fd. */
int dj_fs_detached(const char *what, const char *type, const char *source, const char *data,
                   unsigned attr, dj_err *err);

/* Attach the detached mount mntfd on top of targetfd (an O_PATH fd inside the root), then give it
 * propagation (MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE, |MS_REC for its submounts; 0: none). */
int dj_mount_attach(int mntfd, int targetfd, unsigned long propagation, const char *what, dj_err *err);

/* Bind the object srcfd refers to (recursively when asked) onto targetfd, with attr set on the
 * clone before it is attached, so it is never visible with other attributes. */
int dj_bind_fd(int srcfd, bool recursive, struct mount_attr *attr, int targetfd, unsigned long propagation,
               const char *what, dj_err *err);

/* Set propagation on the mount whose root fd is (0: nothing to do). */
int dj_mount_propagate(int fd, unsigned long propagation, const char *what, dj_err *err);

/* The "cgroup" mount at targetfd: cgroup2 on a v2 host, else a tmpfs holding the v1 hierarchies
 * (and "unified") the host has. Fresh mounts in a new cgroup namespace, else binds of the
 * container's own cgroups (as runc). attr (MOUNT_ATTR_*) applies to each. */
int dj_mount_cgroup(const struct dj_spec *spec, const char *dest, int targetfd, unsigned attr, dj_err *err);

/* /dev: the default nodes and linux.devices (bind-mounted from the host's nodes in a user
 * namespace, checked by st_rdev), the standard symlinks and /dev/ptmx. */
int dj_devices_setup(const struct dj_spec *spec, int rootfd, bool userns, dj_err *err);

/* /dev/console bound from the pty slave fd itself, after checking it is a UNIX98 pty slave. */
int dj_console_bind(int rootfd, int console_fd, dj_err *err);

#endif
