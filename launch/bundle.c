/* Step 4: the plaintext bundle, in memory that only the launch and its container can see.
 *
 * The launch leaves the host's mount namespace (a private one, host mounts still propagating in,
 * none going out) and mounts a tmpfs on DJ_LAUNCH_MOUNTPOINT there: on the host that directory
 * stays empty, so two launches never meet and a killed launch leaves nothing mounted. The layers
 * are decrypted into it (each layer's HMAC checked over a sealed copy first, images/layerstream.h)
 * by a child process, so that a signal can stop a long unpack at once; then the released secrets
 * are written beside them and the config.json the container runs.
 *
 * DJ_LAUNCH_MOUNTPOINT itself (an empty directory, mode 0700) stays on the host: removing it would
 * detach the tmpfs of a concurrent launch, whose namespace has it as a mount point. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/layerstream.h"
#include "images/unpack.h"
#include "launch/launch_internal.h"

int dj_launch_private_tmpfs(dj_err *err)
{
  if (mkdir(DJ_LAUNCH_MOUNTPOINT, 0700) < 0 && errno != EEXIST)
    return dj_error(err, errno, "mkdir %s", DJ_LAUNCH_MOUNTPOINT);
  if (unshare(CLONE_NEWNS) < 0)
    return dj_error(err, errno, "unshare a mount namespace");
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return dj_error(err, errno, "make / a slave mount");
  /* mode 0711: the container's root (a mapped, unprivileged host id) crosses it to its rootfs. */
  if (mount("donjon-launch", DJ_LAUNCH_MOUNTPOINT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,huge=never") < 0)
    return dj_error(err, errno, "mount a tmpfs on %s", DJ_LAUNCH_MOUNTPOINT);
  return 0;
}

void dj_launch_tmpfs_release(void)
{
  umount2(DJ_LAUNCH_MOUNTPOINT, MNT_DETACH);
}

/* The released private options of the layer with digest d->digest. */
static int layer_released(void *ctx, const struct dj_descriptor *d, size_t index, uint8_t **json, size_t *len,
                          dj_err *err)
{
  const struct dj_vattest_result *res = ctx;
  for (size_t i = 0; i < res->n_layers; i++)
    if (strcmp(res->layers[i].id, d->digest) == 0) {
      *json = dj_xmalloc(res->layers[i].len + 1);
      memcpy(*json, res->layers[i].data, res->layers[i].len);
      *len = res->layers[i].len;
      return 0;
    }
  return dj_error(err, 0, "layer %zu (%s): the verifier released no key for it", index, d->digest);
}

/* Unpack in a child: the parent can stop it at once on a signal (sigfd), and the plaintext it
 * wrote goes with the tmpfs. */
static int unpack_child(struct dj_workload *w, const struct dj_vattest_result *res, int rootfd, bool allow_swap,
                        int sigfd, int *signo, dj_err *err)
{
  pid_t parent = getpid();
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return dj_error(err, errno, "pipe");
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return dj_error(err, errno, "fork");
  }
  if (pid == 0) {
    close(pipefd[0]);
    struct dj_unpack_opts o;
    dj_unpack_opts_default(&o);
    dj_unpack_opts_map_like(&o, w->config);
    const struct dj_layer_keys keys = { .released = layer_released, .ctx = (void *) res };
    dj_err e = { 0 };
    /* mlockall is not inherited: this child holds the layer keys and plaintext buffers too. */
    int r = dj_launch_child_harden(parent, allow_swap, &e);
    if (r == 0)
      r = dj_unpack_root_chown(rootfd, &o, &e);
    if (r == 0)
      r = dj_image_unpack_keys(w->img, &keys, &o, rootfd, &e);
    if (r < 0 && dj_write_all(pipefd[1], &e, sizeof e) < 0)
      _exit(2);
    _exit(r < 0 ? 1 : 0);
  }
  close(pipefd[1]);
  struct pollfd p[2] = { { pipefd[0], POLLIN, 0 }, { sigfd, POLLIN, 0 } };
  int r = 0;
  for (;;) {
    if (poll(p, sigfd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      r = dj_error(err, errno, "poll");
      break;
    }
    if (sigfd >= 0 && (p[1].revents & POLLIN)) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) == (ssize_t) sizeof si && si.ssi_signo != SIGCHLD) {
        *signo = (int) si.ssi_signo;
        kill(pid, SIGKILL);
        r = dj_error(err, EINTR, "interrupted by signal %d (SIG%s)", *signo, sigabbrev_np(*signo));
        break;
      }
      continue;
    }
    if (p[0].revents & (POLLIN | POLLHUP)) {
      dj_err e = { 0 };
      ssize_t n = dj_read_all(pipefd[0], &e, sizeof e);
      if (n == (ssize_t) sizeof e) {
        *err = e;
        r = -1;
      }
      break;
    }
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    r = dj_error(err, 0, "the unpacking process %s %d", WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  return r;
}

/* A key id as a file name: no '/', not "." or "..", printable. */
static int key_file_name_check(const char *id, dj_err *err)
{
  if (*id == '\0' || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strlen(id) > 255)
    return dj_error(err, 0, "key id \"%s\" cannot be a file name", id);
  for (const char *p = id; *p; p++)
    if (*p == '/' || (unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
      return dj_error(err, 0, "key id \"%s\" cannot be a file name", id);
  return 0;
}

/* The host ids the container's process user maps to (the profile maps one range). */
static void process_host_ids(json_t *config, uid_t *uid, gid_t *gid)
{
  json_t *user = json_object_get(json_object_get(config, "process"), "user");
  json_int_t u = json_integer_value(json_object_get(user, "uid"));
  json_int_t g = json_integer_value(json_object_get(user, "gid"));
  json_t *linux_ = json_object_get(config, "linux");
  json_t *um = json_array_get(json_object_get(linux_, "uidMappings"), 0);
  json_t *gm = json_array_get(json_object_get(linux_, "gidMappings"), 0);
  json_int_t uc = json_integer_value(json_object_get(um, "containerID"));
  json_int_t gc = json_integer_value(json_object_get(gm, "containerID"));
  *uid = (uid_t) (um && u >= uc && u < uc + json_integer_value(json_object_get(um, "size"))
                      ? json_integer_value(json_object_get(um, "hostID")) + (u - uc)
                      : u);
  *gid = (gid_t) (gm && g >= gc && g < gc + json_integer_value(json_object_get(gm, "size"))
                      ? json_integer_value(json_object_get(gm, "hostID")) + (g - gc)
                      : g);
}

/* The released secrets as files, readable by the container's process user only. */
static int secrets_write(int dirfd, json_t *config, const struct dj_vattest_result *res, dj_err *err)
{
  uid_t uid;
  gid_t gid;
  process_host_ids(config, &uid, &gid);
  if (mkdirat(dirfd, "secrets", 0500) < 0)
    return dj_error(err, errno, "mkdir secrets");
  _cleanup_close_ int sfd = openat(dirfd, "secrets", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sfd < 0 || fchown(sfd, uid, gid) < 0)
    return dj_error(err, errno, "secrets directory");
  for (size_t i = 0; i < res->n_keys; i++) {
    const struct dj_vreleased *k = &res->keys[i];
    if (key_file_name_check(k->id, err) < 0)
      return -1;
    _cleanup_close_ int fd = openat(sfd, k->id, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (fd < 0 || fchown(fd, uid, gid) < 0 || dj_write_all(fd, k->data, k->len) < 0)
      return dj_error(err, errno, "secret %s", k->id);
  }
  return 0;
}

/* The config the container runs: the attested one, with its root in the tmpfs and the secrets
 * bound read-only (DJ_LAUNCH_SECRETS_DIR). */
static int config_write(int dirfd, json_t *attested, bool secrets, dj_err *err)
{
  _cleanup_json_ json_t *c = json_deep_copy(attested);
  json_object_set_new(json_object_get(c, "root"), "path", json_string(DJ_LAUNCH_MOUNTPOINT "/rootfs"));
  if (secrets) {
    json_t *mounts = json_object_get(c, "mounts");
    if (!json_is_array(mounts)) {
      mounts = json_array();
      json_object_set_new(c, "mounts", mounts);
    }
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s,s,s,s,s]}", "destination", DJ_LAUNCH_SECRETS_DIR,
                                            "type", "bind", "source", DJ_LAUNCH_MOUNTPOINT "/secrets", "options",
                                            "rbind", "ro", "nosuid", "nodev", "noexec"));
  }
  _cleanup_free_ char *text = json_dumps(c, JSON_INDENT(2));
  _cleanup_close_ int fd = openat(dirfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || dj_write_all(fd, text, strlen(text)) < 0)
    return dj_error(err, errno, "config.json");
  return 0;
}

int dj_launch_bundle_make(struct dj_workload *w, const struct dj_vattest_result *res, bool secrets, bool allow_swap,
                          int sigfd, int *signo, dj_err *err)
{
  _cleanup_close_ int dirfd = open(DJ_LAUNCH_MOUNTPOINT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    return dj_error(err, errno, "%s", DJ_LAUNCH_MOUNTPOINT);
  if (mkdirat(dirfd, "rootfs", 0755) < 0)
    return dj_error(err, errno, "mkdir rootfs");
  _cleanup_close_ int rootfd = openat(dirfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0)
    return dj_error(err, errno, "rootfs");
  if (unpack_child(w, res, rootfd, allow_swap, sigfd, signo, err) < 0)
    return -1;
  if (secrets && secrets_write(dirfd, w->config, res, err) < 0)
    return -1;
  return config_write(dirfd, w->config, secrets, err);
}
