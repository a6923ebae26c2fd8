/* The configurations `donjon spec` writes, as jansson documents, and the confidential profile
 * applied to an orchestrator's config.
 *
 * The confidential profile (docs/runtime-spec.md says why each part is there):
 *   - a new user namespace, container ids 0..65535 mapped to host ids 100000..165535
 *     (DJ_PROFILE_HOST_ID_BASE, DJ_PROFILE_ID_RANGE): container root is no one on the host;
 *   - new pid, mount, network (lo only), uts, ipc and cgroup namespaces;
 *   - all five capability sets empty, noNewPrivileges, RLIMIT_CORE 0 (no core dump of tenant
 *     memory), RLIMIT_NOFILE 1024;
 *   - a read-only root; tmpfs /tmp (nosuid, nodev, 64 MiB); proc; sysfs read-only; a minimal /dev
 *     (tmpfs, devpts, shm, mqueue), every mount nosuid and nodev except devpts (its pty nodes must
 *     open); maskedPaths and readonlyPaths over /proc and /sys;
 *   - no device beyond the runtime's default set, so no TPM; a device cgroup that denies
 *     everything, then allows null, zero, full, random, urandom, tty, ptmx and the ptys;
 *   - memory 1 GiB with no extra swap (swap = limit), 1024 pids;
 *   - linux.seccomp = dj_seccomp_confidential_profile();
 *   - the annotation org.donjon.profile=confidential. */
#ifndef DJ_PROFILE_H
#define DJ_PROFILE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

#define DJ_PROFILE_ANNOTATION "org.donjon.profile"
/* The orchestrator plugin's annotations (docs/launch.md): the encrypted image a confidential pod
 * runs instead of the orchestrator's rootfs, and the keys its launch asks for (ID[,ID]). */
#define DJ_LAUNCH_IMAGE_ANNOTATION "org.donjon.image"
#define DJ_LAUNCH_KEYS_ANNOTATION "org.donjon.attest.keys"
#define DJ_PROFILE_HOST_ID_BASE 100000u        /* container id 0 is this host id */
#define DJ_PROFILE_ID_RANGE 65536u
#define DJ_PROFILE_MEMORY_LIMIT (1ll << 30)     /* bytes; swap limit is the same: no extra swap */
#define DJ_PROFILE_PIDS_LIMIT 1024
#define DJ_PROFILE_NOFILE 1024

/* What `runc spec` writes (runc 1.1.5), with ociVersion "1.2.0". rootless: as `runc spec
 * --rootless`: a user namespace mapping container root to the caller's euid/egid, no network
 * namespace, no device cgroup rules, /sys bind-mounted from the host. New reference. */
json_t *dj_profile_default(bool rootless);

/* The confidential profile above. New reference; NULL only if the seccomp profile is missing. */
json_t *dj_profile_confidential(void);

/* Tighten an orchestrator's config (a config.json document, changed in place) to the
 * confidential profile. It only ever tightens:
 *   - process.capabilities: all five sets emptied; process.noNewPrivileges: true;
 *   - process.rlimits: each of the profile's added when absent, lowered when higher;
 *   - root.readonly: true; when the root was writable and nothing is mounted on /tmp, the
 *     profile's tmpfs /tmp is added (of what was writable, only /tmp stays so);
 *   - linux.namespaces: the profile's namespaces added when absent. Joining an existing namespace
 *     by path is kept (containers of one pod share them), except one of donjon's own (the host's):
 *     refused. A new user namespace without mappings gets the profile's; a mapping that reaches
 *     host id 0 is refused;
 *   - linux.seccomp: replaced by the confidential one;
 *   - linux.resources.memory: limit lowered to the profile's when absent, unlimited or higher; swap
 *     set to the limit. pids.limit likewise. linux.resources.devices: replaced by the profile's;
 *   - linux.devices: entries outside the profile's device allowlist removed (the cgroup would deny
 *     them anyway), so no TPM;
 *   - mounts: nosuid and nodev added to every mount but devpts ("suid", "dev" and their r-forms
 *     removed); a bind mount of the host's /dev or of a /dev/tpm* device is refused; sysfs and
 *     cgroup mounts and binds under /sys made read-only;
 *   - linux.maskedPaths, linux.readonlyPaths: the profile's added;
 *   - annotations: org.donjon.profile=confidential.
 * Everything else (args, env, cwd, user, other mounts, cpu, hostname, sysctl, ...) is kept. The
 * result is not validated here: dj_spec_parse() does that. -1 (err names the JSON path) when the
 * config asks for something the profile forbids and that cannot be tightened away. */
int dj_profile_apply_confidential(json_t *config, dj_err *err);

#endif
