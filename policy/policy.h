/* Policy documents (operator and tenant) and their evaluation to a decision with every reason.
 * Policy knows nothing of TPMs: it evaluates claims that attest/ produced (DESIGN.md §5, 9-11). */
#ifndef DJ_POLICY_H
#define DJ_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_POLICY_MAX_ERRORS 64

/* Every error of one document, each "JSON.path: why". */
struct dj_policy_errors {
  char *msgs[DJ_POLICY_MAX_ERRORS];
  size_t n;
  size_t dropped;                     /* errors beyond DJ_POLICY_MAX_ERRORS */
};
void dj_policy_errors_clear(struct dj_policy_errors *e);

struct dj_pcr_ref {
  char *bank;                         /* "sha1", "sha256", "sha384", "sha512" */
  unsigned index;                     /* 0-7 */
  char *hex;                          /* lower-case */
};

struct dj_hw_class {
  char *name;
  struct dj_pcr_ref *boot;
  size_t n_boot;
};

struct dj_tpm_vendor {
  char *manufacturer;                 /* as the EK certificate names it, e.g. "id:53544D20" */
  uint64_t min_firmware;
  uint64_t *denied_firmware;
  size_t n_denied;
};

struct dj_site {
  char *name;
  char *jurisdiction;
};

struct dj_operator_policy {
  char **ek_roots;                    /* PEM file paths or inline PEM */
  size_t n_ek_roots;
  char **ek_intermediates;            /* untrusted CA certificates that may complete a path */
  size_t n_ek_intermediates;
  struct dj_tpm_vendor *vendors;      /* allowed TPM manufacturers */
  size_t n_vendors;
  bool inventory_required;
  bool require_clock_safe;
  char **jurisdictions;
  size_t n_jurisdictions;
  struct dj_site *sites;
  size_t n_sites;
  struct dj_hw_class *classes;
  size_t n_classes;
};

/* A workload's config constraint: a digest, or rules on args/env/mounts. */
struct dj_workload_rule {
  char *manifest;                     /* "sha256:<64 hex>" */
  char *profile;
  char *config_digest;                /* NULL: the rules below apply */
  char ***args;                       /* allowed argv vectors (each NULL-terminated) */
  size_t n_args;
  char **env;                         /* fnmatch patterns; every env entry must match one */
  size_t n_env;
  char **mounts;                      /* fnmatch patterns; every mount destination must match one */
  size_t n_mounts;
};

struct dj_key_rule {
  char *key_id;
  char **jurisdictions;
  size_t n_jurisdictions;
  char **sites;                       /* fnmatch patterns */
  size_t n_sites;
  char **classes;
  size_t n_classes;
  struct dj_workload_rule *workloads;
  size_t n_workloads;
  uint64_t max_evidence_age;          /* seconds */
};

struct dj_tenant_policy {
  char *tenant;
  struct dj_key_rule *keys;
  size_t n_keys;
};

enum dj_policy_kind { DJ_POLICY_OPERATOR = 1, DJ_POLICY_TENANT = 2 };

/* "kind" of a document, or -1 (err names it). */
int dj_policy_kind(json_t *doc, dj_err *err);

/* Strict parsers: unknown properties are errors. On failure return -1, err holds the first error
 * and errs (optional) every error found; out is left empty. */
int dj_operator_policy_parse(json_t *doc, struct dj_operator_policy *out, struct dj_policy_errors *errs,
                             dj_err *err);
int dj_tenant_policy_parse(json_t *doc, struct dj_tenant_policy *out, struct dj_policy_errors *errs,
                           dj_err *err);
void dj_operator_policy_free(struct dj_operator_policy *p);
void dj_tenant_policy_free(struct dj_tenant_policy *p);

/* A tenant may only narrow: refuse jurisdictions and hardware classes the operator does not have,
 * and site patterns that match none of the operator's sites. errs (optional) gets every one. */
int dj_tenant_policy_within(const struct dj_operator_policy *op, const struct dj_tenant_policy *t,
                            struct dj_policy_errors *errs, dj_err *err);

struct dj_pcr_claim {
  const char *bank;
  unsigned index;
  const char *hex;
};

struct dj_policy_claims {
  /* node */
  const char *site;
  const char *jurisdiction;
  const char *hw_class;
  const char *tpm_manufacturer;
  uint64_t firmware_version;
  bool clock_safe;
  bool in_inventory;
  const struct dj_pcr_claim *pcrs;
  size_t n_pcrs;
  /* workload */
  const char *manifest_digest;
  const char *profile;
  const char *config_digest;
  const char *const *args;
  size_t n_args;
  const char *const *env;
  size_t n_env;
  const char *const *mounts;          /* mount destinations */
  size_t n_mounts;
  /* evidence */
  uint64_t evidence_age;              /* seconds */
  const char *key_id;
};

/* Deny by default: allow only when every operator and tenant rule is met. *decision gets
 * {"decision": "allow"|"deny", "tenant", "key", "reasons": [{"rule", "result": "met"|"failed",
 * "detail"}...]} with every rule, for the audit log. Returns 1 allow, 0 deny, -1 error. */
int dj_policy_evaluate(const struct dj_operator_policy *op, const struct dj_tenant_policy *t,
                       const struct dj_policy_claims *c, json_t **decision, dj_err *err);

#endif
