/* The confidential launch tests' world (lharness.c). */
#ifndef DJ_TEST_LHARNESS_H
#define DJ_TEST_LHARNESS_H

#include <limits.h>
#include <stddef.h>

#include "vharness.h"

struct lh {
  struct vh v;                 /* the verifier */
  struct vnode node;           /* the node (ECC P-256 AK) */
  char work[PATH_MAX];         /* the test's directory (on disk) */
  char image[PATH_MAX + 64];   /* oci:WORK/enc:latest, encrypted to acme-kek */
  char state_root[PATH_MAX + 64]; /* donjon --root */
  char marker[80];             /* a random string only the plaintext image holds */
  char manifest[80];           /* the encrypted image's manifest digest */
  char ids[16][64];            /* container ids the tests named (lh_nothing_left checks them too) */
  size_t n_ids;
};
extern struct lh LH;

const char *lh_donjon(void);
void lh_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The world, with an image carrying big_mb of random bytes too; env: the tenant's allowed
 * environment pattern (NULL: PATH=*, TERM=*, HOME=*). Workloads allowed: /bin/app [7|sleep]. */
void lh_setup(size_t big_mb, const char *env);
void lh_teardown(void);
/* The tenant's policy: its keys for manifest only (the LH.image's when NULL), env as lh_setup's. */
void lh_tenant_policy(const char *manifest, const char *env);
/* Remember a container id a test gives, so that lh_nothing_left checks its cgroups too. */
const char *lh_id(const char *id);
/* No cgroup at PATH (e.g. "/donjon/ID") below any hierarchy root of /sys/fs/cgroup. */
void lh_no_cgroup(const char *path);
/* No container state under LH.state_root, no cgroup of a launch (donjon/launch-* or an lh_id), an
 * empty /run/donjon-launch, no launch mount on the host. */
void lh_nothing_left(void);
void lh_no_host_mounts(void);
/* No file changed since stamp (ctime) on any disk-backed filesystem holds LH.marker (at least one
 * such filesystem is scanned). */
void lh_no_marker_on_disk(const char *stamp);

#endif
