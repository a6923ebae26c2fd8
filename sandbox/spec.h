/* The OCI runtime configuration (runtime-spec 1.2, config.json), parsed and validated.
 *
 * dj_spec_parse() checks every known property and refuses invalid values with the JSON path and
 * the reason; unknown properties are ignored as the spec says. Strings are borrowed from the
 * jansson document the spec keeps (spec->doc), so they live exactly as long as the spec. */
#ifndef DJ_SPEC_H
#define DJ_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define DJ_SPEC_MAX_SIZE (4u << 20) /* config.json larger than this is refused */

struct dj_id_map {
  uint32_t container_id;
  uint32_t host_id;
  uint32_t size;
};

struct dj_namespace {
  int type;          /* CLONE_NEWUSER, CLONE_NEWPID, ... CLONE_NEWTIME */
  const char *path;  /* join this namespace; NULL: create a new one */
};

/* A mount of config.json, its options already split into what mount(2)/mount_setattr(2) take. */
struct dj_mount {
  const char *destination;  /* absolute path inside the container */
  const char *type;         /* "proc", "tmpfs", "bind", ...; NULL for a bind mount given by options */
  const char *source;
  unsigned long flags;      /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, ... */
  unsigned long clear_flags;/* flags explicitly cleared ("rw", "suid", "dev", "exec", ...) */
  unsigned long propagation;/* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE, optionally |MS_REC; 0: none */
  bool bind;                /* "bind" or "rbind" (or type "bind") */
  bool recursive;           /* "rbind": bind the whole tree (open_tree AT_RECURSIVE), and apply the
                             * flags to every submount. The "r*" attribute options alone do not set it:
                             * on a plain bind or a new filesystem there is no submount to reach */
  unsigned long rec_flags;  /* of flags, those given as "r*" attributes (rro, rnosuid, ...): apply
                             * to every submount (mount_setattr AT_RECURSIVE), not only the top */
  unsigned long rec_clear_flags; /* of clear_flags, those given as "r*" (rrw, rsuid, ...) */
  bool idmap;               /* "idmap"/"ridmap": refused by the parser for now */
  char *data;               /* the remaining filesystem options, comma-joined; owned (freed) */
};

struct dj_device {
  const char *path;   /* inside the container */
  char type;          /* 'c', 'b', 'u' (unbuffered char), 'p' (fifo) */
  int64_t major, minor;
  uint32_t file_mode; /* permission bits; has_file_mode false: 0666 */
  bool has_file_mode;
  uint32_t uid, gid;
  bool has_uid, has_gid;
};

/* linux.resources.devices[] */
struct dj_device_rule {
  bool allow;
  char type;          /* 'a', 'c', 'b' */
  int64_t major;      /* -1: any */
  int64_t minor;      /* -1: any */
  char access[4];     /* subset of "rwm", NUL-terminated; empty means "rwm" */
};

struct dj_rlimit {
  int resource;       /* RLIMIT_* */
  const char *name;   /* "RLIMIT_NOFILE" as written in the config */
  uint64_t soft, hard;
};

/* Capability sets as bitmasks of capability numbers (bit n = capability n). */
struct dj_caps {
  uint64_t bounding, effective, inheritable, permitted, ambient;
  bool present;       /* process.capabilities was given (absent: all sets empty) */
};

enum dj_seccomp_op { DJ_SCMP_NE = 1, DJ_SCMP_LT, DJ_SCMP_LE, DJ_SCMP_EQ, DJ_SCMP_GE, DJ_SCMP_GT, DJ_SCMP_MASKED_EQ };

struct dj_seccomp_arg {
  unsigned index;     /* 0..5 */
  uint64_t value, value_two;
  enum dj_seccomp_op op;
};

/* Actions as libseccomp's SCMP_ACT_* values without the errno (see errno_ret). */
enum dj_seccomp_action {
  DJ_SCMP_ACT_KILL = 1,      /* SCMP_ACT_KILL (thread) */
  DJ_SCMP_ACT_KILL_PROCESS,
  DJ_SCMP_ACT_KILL_THREAD,
  DJ_SCMP_ACT_TRAP,
  DJ_SCMP_ACT_ERRNO,
  DJ_SCMP_ACT_TRACE,
  DJ_SCMP_ACT_ALLOW,
  DJ_SCMP_ACT_LOG,
  DJ_SCMP_ACT_NOTIFY,        /* refused by the parser: no listenerPath support */
};

struct dj_seccomp_rule {
  const char **names;        /* NULL-terminated */
  size_t n_names;
  enum dj_seccomp_action action;
  uint32_t errno_ret;        /* for ERRNO/TRACE; EPERM when not given (as runc) */
  bool has_errno_ret;
  struct dj_seccomp_arg *args;
  size_t n_args;
};

struct dj_seccomp {
  enum dj_seccomp_action default_action;
  uint32_t default_errno_ret;
  bool has_default_errno_ret;
  const char **architectures;/* "SCMP_ARCH_X86_64", ...; NULL-terminated, may be empty */
  size_t n_architectures;
  const char **flags;        /* "SECCOMP_FILTER_FLAG_LOG", ...; NULL-terminated */
  size_t n_flags;
  struct dj_seccomp_rule *rules;
  size_t n_rules;
};

#define DJ_UNSET_I64 INT64_MIN

struct dj_resources {
  /* memory; DJ_UNSET_I64 when absent, -1 means unlimited as in the spec */
  int64_t memory_limit, memory_reservation, memory_swap, memory_kernel, memory_swappiness;
  bool disable_oom_killer, has_disable_oom_killer;
  /* pids */
  int64_t pids_limit;
  /* cpu */
  uint64_t cpu_shares; bool has_cpu_shares;
  int64_t cpu_quota;                     /* DJ_UNSET_I64 when absent */
  uint64_t cpu_period; bool has_cpu_period;
  int64_t cpu_realtime_runtime; uint64_t cpu_realtime_period; bool has_rt_runtime, has_rt_period;
  const char *cpuset_cpus, *cpuset_mems;
  /* blockIO weight only (device-specific throttles refused for now) */
  uint16_t blkio_weight; bool has_blkio_weight;
  /* devices allowlist rules, in order */
  struct dj_device_rule *devices;
  size_t n_devices;
  /* cgroup v2 "unified" key/values (borrowed JSON object, may be NULL) */
  json_t *unified;
  bool present;                          /* linux.resources was given */
};

struct dj_sysctl {
  const char *key, *value;
};

struct dj_process {
  bool terminal;
  unsigned console_height, console_width; bool has_console_size;
  const char **args; size_t n_args;      /* NULL-terminated; at least one */
  const char **env; size_t n_env;        /* NULL-terminated */
  const char *cwd;                       /* absolute */
  uid_t uid; gid_t gid;
  gid_t *additional_gids; size_t n_additional_gids;
  mode_t umask; bool has_umask;
  struct dj_caps caps;
  bool no_new_privileges;
  struct dj_rlimit *rlimits; size_t n_rlimits;
  int oom_score_adj; bool has_oom_score_adj;
  const char *apparmor_profile;          /* refused at run time where there is no AppArmor */
  const char *selinux_label;             /* refused at run time where there is no SELinux */
};

struct dj_spec {
  json_t *doc;                           /* owned: the whole parsed config */
  const char *oci_version;
  const char *root_path;                 /* as written (relative to the bundle or absolute) */
  bool root_readonly;
  const char *hostname, *domainname;
  struct dj_process process;
  struct dj_mount *mounts; size_t n_mounts;
  json_t *annotations;                   /* borrowed object, may be NULL */
  json_t *hooks;                         /* borrowed object, may be NULL (the lifecycle issue's) */
  /* linux */
  struct dj_namespace *namespaces; size_t n_namespaces;
  int ns_flags;                          /* CLONE_NEW* of the namespaces to create (no path) */
  struct dj_id_map *uid_mappings; size_t n_uid_mappings;
  struct dj_id_map *gid_mappings; size_t n_gid_mappings;
  struct dj_device *devices; size_t n_devices;
  const char *cgroups_path;              /* NULL when absent */
  struct dj_resources resources;
  unsigned long rootfs_propagation;      /* MS_* (with MS_REC) or 0 when absent */
  const char **masked_paths; size_t n_masked_paths;
  const char **readonly_paths; size_t n_readonly_paths;
  struct dj_sysctl *sysctl; size_t n_sysctl;
  struct dj_seccomp *seccomp;            /* NULL when absent */
  int64_t time_offset_monotonic_s, time_offset_monotonic_ns;
  int64_t time_offset_boottime_s, time_offset_boottime_ns;
  bool has_time_offsets;
  unsigned long personality; bool has_personality; /* PER_LINUX / PER_LINUX32 */
  const char *mount_label;               /* refused at run time without SELinux */
};

/* Parse a config document. Takes a reference to doc on success. Errors name the JSON path. */
int dj_spec_parse(json_t *doc, struct dj_spec **out, dj_err *err);
/* Load and parse bundle_dir/config.json (errors prefixed with "config.json"). */
int dj_spec_load(const char *bundle_dir, struct dj_spec **out, dj_err *err);
/* Only read bundle_dir/config.json as a document (bounded), for a caller that changes it before
 * dj_spec_parse (the confidential profile of an annotated config). Errors say "config.json: ...". */
int dj_spec_load_doc(const char *bundle_dir, json_t **doc, dj_err *err);
void dj_spec_free(struct dj_spec *spec);
void dj_spec_freep(struct dj_spec **spec);
#define _cleanup_spec_ __attribute__((cleanup(dj_spec_freep)))

/* Name tables shared by the parser and the profiles. -1 when unknown. */
int dj_cap_from_name(const char *name);          /* "CAP_SYS_ADMIN" -> 21 */
const char *dj_cap_name(int cap);
int dj_rlimit_from_name(const char *name);       /* "RLIMIT_NOFILE" -> RLIMIT_NOFILE */
int dj_namespace_from_name(const char *name);    /* "pid" -> CLONE_NEWPID */
const char *dj_namespace_name(int clone_flag);   /* CLONE_NEWPID -> "pid" */

/* The names the parser accepts, for `donjon features` (NULL-terminated, static). */
enum dj_spec_names { DJ_NAMES_MOUNT_OPTIONS, DJ_NAMES_SECCOMP_ACTIONS, DJ_NAMES_SECCOMP_OPS,
                     DJ_NAMES_SECCOMP_ARCHS, DJ_NAMES_SECCOMP_FLAGS };
const char *const *dj_spec_names(enum dj_spec_names kind);

#endif
