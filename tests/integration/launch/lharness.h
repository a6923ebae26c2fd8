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
};
extern struct lh LH;

const char *lh_donjon(void);
void lh_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The world, with an image carrying big_mb of random bytes too; env: the tenant's allowed
 * environment pattern (NULL: PATH=*, TERM=*, HOME=*). Workloads allowed: /bin/app [7|sleep]. */
void lh_setup(size_t big_mb, const char *env);
void lh_teardown(void);
/* No container state under LH.state_root, an empty /run/donjon-launch, no launch mount on the host. */
void lh_nothing_left(void);
void lh_no_host_mounts(void);
/* No file changed since stamp (ctime) on any disk-backed filesystem holds LH.marker. */
void lh_no_marker_on_disk(const char *stamp);

#endif
