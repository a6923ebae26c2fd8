/* Evaluation of claims against both policies: deny by default, every rule reported (met or
 * failed, named, with why) so the audit log and the node's error say exactly what decided. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "policy/policy.h"

struct verdict {
  json_t *reasons;
  bool allow;
};

__attribute__((format(printf, 4, 5))) static void reason(struct verdict *v, const char *rule, bool met,
                                                         const char *fmt, ...)
{
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (!met)
    v->allow = false;
  json_array_append_new(v->reasons, json_pack("{s:s, s:s, s:s}", "rule", rule, "result", met ? "met" : "failed",
                                              "detail", detail));
}

static const char *nz(const char *s)
{
  return s ? s : "(none)";
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
  for (size_t i = 0; s && i < n; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

static bool strv_match(char *const *patterns, size_t n, const char *s)
{
  for (size_t i = 0; s && i < n; i++)
    if (fnmatch(patterns[i], s, 0) == 0)
      return true;
  return false;
}

static const struct dj_site *find_site(const struct dj_operator_policy *op, const char *name)
{
  for (size_t i = 0; name && i < op->n_sites; i++)
    if (strcmp(op->sites[i].name, name) == 0)
      return &op->sites[i];
  return NULL;
}

static const struct dj_hw_class *find_class(const struct dj_operator_policy *op, const char *name)
{
  for (size_t i = 0; name && i < op->n_classes; i++)
    if (strcmp(op->classes[i].name, name) == 0)
      return &op->classes[i];
  return NULL;
}

static void eval_operator_tpm(const struct dj_operator_policy *op, const struct dj_policy_claims *c,
                              struct verdict *v)
{
  const struct dj_tpm_vendor *vendor = NULL;
  bool named = c->tpm_manufacturer && c->tpm_manufacturer[0];
  for (size_t i = 0; named && i < op->n_vendors; i++)
    if (strcmp(op->vendors[i].manufacturer, c->tpm_manufacturer) == 0)
      vendor = &op->vendors[i];
  if (!named) /* a TPM without an EK certificate: nothing attests who made it */
    reason(v, "operator.tpm_manufacturer", false, "TPM manufacturer unknown (no EK certificate names it)");
  else
    reason(v, "operator.tpm_manufacturer", vendor != NULL, "TPM manufacturer %s %s", c->tpm_manufacturer,
           vendor ? "is allowed" : "is not allowed");
  if (!vendor) {
    reason(v, "operator.tpm_firmware", false, "no firmware rule without an allowed manufacturer");
    return;
  }
  if (c->firmware_version < vendor->min_firmware) {
    reason(v, "operator.tpm_firmware", false, "firmware %" PRIu64 " is below the minimum %" PRIu64,
           c->firmware_version, vendor->min_firmware);
    return;
  }
  for (size_t i = 0; i < vendor->n_denied; i++)
    if (vendor->denied_firmware[i] == c->firmware_version) {
      reason(v, "operator.tpm_firmware", false, "firmware %" PRIu64 " is denied", c->firmware_version);
      return;
    }
  reason(v, "operator.tpm_firmware", true, "firmware %" PRIu64 " is allowed", c->firmware_version);
}

static void eval_operator_node(const struct dj_operator_policy *op, const struct dj_policy_claims *c,
                               struct verdict *v)
{
  if (op->inventory_required)
    reason(v, "operator.inventory", c->in_inventory, "node %s the inventory",
           c->in_inventory ? "is in" : "is not in");
  else
    reason(v, "operator.inventory", true, "inventory not required");
  if (op->require_clock_safe)
    reason(v, "operator.clock_safe", c->clock_safe, "TPM clock %s", c->clock_safe ? "is safe" : "is not safe");
  else
    reason(v, "operator.clock_safe", true, "safe clock not required");

  const struct dj_site *site = find_site(op, c->site);
  if (!site)
    reason(v, "operator.site", false, "site %s is not an operator site", nz(c->site));
  else if (!c->jurisdiction || strcmp(site->jurisdiction, c->jurisdiction) != 0)
    reason(v, "operator.site", false, "site %s is in jurisdiction %s, not %s", site->name, site->jurisdiction,
           nz(c->jurisdiction));
  else
    reason(v, "operator.site", true, "site %s is in jurisdiction %s", site->name, site->jurisdiction);
  bool jur = strv_has(op->jurisdictions, op->n_jurisdictions, c->jurisdiction);
  reason(v, "operator.jurisdiction", jur, "jurisdiction %s %s", nz(c->jurisdiction),
         jur ? "is an operator jurisdiction" : "is not an operator jurisdiction");

  const struct dj_hw_class *cls = find_class(op, c->hw_class);
  reason(v, "operator.hardware_class", cls != NULL, "hardware class %s %s", nz(c->hw_class),
         cls ? "is known" : "is not known");
  if (!cls) {
    reason(v, "operator.boot", false, "no boot reference values without a known hardware class");
    return;
  }
  for (size_t i = 0; i < cls->n_boot; i++) {
    const struct dj_pcr_ref *ref = &cls->boot[i];
    const struct dj_pcr_claim *got = NULL;
    for (size_t k = 0; k < c->n_pcrs; k++)
      if (c->pcrs[k].index == ref->index && c->pcrs[k].bank && strcmp(c->pcrs[k].bank, ref->bank) == 0)
        got = &c->pcrs[k];
    if (!got || !got->hex || strcasecmp(got->hex, ref->hex) != 0) {
      reason(v, "operator.boot", false, "PCR %s:%u %s", ref->bank, ref->index,
             got ? "differs from the reference value" : "was not supplied");
      return;
    }
  }
  reason(v, "operator.boot", true, "%zu boot PCR values match hardware class %s", cls->n_boot, cls->name);
}

/* argv equal to one allowed vector exactly. */
static bool args_allowed(const struct dj_workload_rule *w, const struct dj_policy_claims *c)
{
  for (size_t i = 0; i < w->n_args; i++) {
    size_t n = 0;
    while (w->args[i][n])
      n++;
    if (n != c->n_args)
      continue;
    bool same = true;
    for (size_t k = 0; k < n && same; k++)
      same = c->args[k] && strcmp(w->args[i][k], c->args[k]) == 0;
    if (same)
      return true;
  }
  return false;
}

/* Every entry matches one of the patterns; sets *bad to the first that does not. */
static bool all_match(char *const *patterns, size_t np, const char *const *items, size_t n, const char **bad)
{
  for (size_t i = 0; i < n; i++)
    if (!strv_match(patterns, np, items[i])) {
      *bad = items[i];
      return false;
    }
  return true;
}

/* Why a workload rule does not match, or NULL when it does. */
static const char *workload_mismatch(const struct dj_workload_rule *w, const struct dj_policy_claims *c,
                                     char *buf, size_t len)
{
  if (!c->manifest_digest || strcmp(w->manifest, c->manifest_digest) != 0)
    return "other image manifest";
  if (!c->profile || strcmp(w->profile, c->profile) != 0)
    return "other profile";
  if (w->config_digest)
    return c->config_digest && strcmp(w->config_digest, c->config_digest) == 0 ? NULL : "other config digest";
  const char *bad = NULL;
  if (!args_allowed(w, c))
    return "arguments not allowed";
  if (!all_match(w->env, w->n_env, c->env, c->n_env, &bad)) {
    snprintf(buf, len, "environment entry %.*s not allowed", (int) strcspn(bad, "="), bad);
    return buf;
  }
  if (!all_match(w->mounts, w->n_mounts, c->mounts, c->n_mounts, &bad)) {
    snprintf(buf, len, "mount %s not allowed", bad);
    return buf;
  }
  return NULL;
}

static void eval_tenant(const struct dj_tenant_policy *t, const struct dj_policy_claims *c, struct verdict *v)
{
  const struct dj_key_rule *k = NULL;
  for (size_t i = 0; c->key_id && i < t->n_keys; i++)
    if (strcmp(t->keys[i].key_id, c->key_id) == 0)
      k = &t->keys[i];
  reason(v, "tenant.key", k != NULL, "key %s %s tenant %s", nz(c->key_id), k ? "has a rule of" : "has no rule of",
         t->tenant);
  if (!k) { /* every rule is still reported: none can be met without the key's rule */
    /* every tenant.* rule eval_tenant reports below */
    static const char *const rules[] = { "tenant.jurisdiction", "tenant.site", "tenant.hardware_class",
                                         "tenant.workload", "tenant.evidence_age" };
    for (size_t i = 0; i < DJ_ARRAY_SIZE(rules); i++)
      reason(v, rules[i], false, "no rule of tenant %s for key %s", t->tenant, nz(c->key_id));
    return;
  }
  bool jur = strv_has(k->jurisdictions, k->n_jurisdictions, c->jurisdiction);
  reason(v, "tenant.jurisdiction", jur, "jurisdiction %s %s", nz(c->jurisdiction), jur ? "is allowed" : "is not allowed");
  bool site = strv_match(k->sites, k->n_sites, c->site);
  reason(v, "tenant.site", site, "site %s %s", nz(c->site), site ? "matches a site pattern" : "matches no site pattern");
  bool cls = strv_has(k->classes, k->n_classes, c->hw_class);
  reason(v, "tenant.hardware_class", cls, "hardware class %s %s", nz(c->hw_class), cls ? "is allowed" : "is not allowed");
  const char *why = "no workload rule";
  size_t which = 0;
  char buf[256];
  for (size_t i = 0; i < k->n_workloads && why; i++) {
    const char *w = workload_mismatch(&k->workloads[i], c, buf, sizeof buf);
    if (!w)
      which = i, why = NULL;
    /* report the mismatch of the rule with the same image, the one the launcher meant */
    else if (i == 0 || (c->manifest_digest && strcmp(k->workloads[i].manifest, c->manifest_digest) == 0))
      why = w;
  }
  if (why)
    reason(v, "tenant.workload", false, "workload %s: %s", nz(c->manifest_digest), why);
  else
    reason(v, "tenant.workload", true, "workload matches workloads[%zu]", which);
  bool fresh = c->evidence_age <= k->max_evidence_age;
  reason(v, "tenant.evidence_age", fresh, "evidence is %" PRIu64 " s old, at most %" PRIu64 " s allowed",
         c->evidence_age, k->max_evidence_age);
}

int dj_policy_evaluate(const struct dj_operator_policy *op, const struct dj_tenant_policy *t,
                       const struct dj_policy_claims *c, json_t **decision, dj_err *err)
{
  struct verdict v = { .reasons = json_array(), .allow = true };
  if (!v.reasons)
    return dj_error(err, 0, "policy: out of memory");
  eval_operator_tpm(op, c, &v);
  eval_operator_node(op, c, &v);
  eval_tenant(t, c, &v);
  json_t *d = json_pack("{s:s, s:s, s:s, s:o}", "decision", v.allow ? "allow" : "deny", "tenant", nz(t->tenant),
                        "key", nz(c->key_id), "reasons", v.reasons);
  if (!d)
    return dj_error(err, 0, "policy: out of memory");
  *decision = d;
  return v.allow ? 1 : 0;
}

int dj_tenant_policy_within(const struct dj_operator_policy *op, const struct dj_tenant_policy *t,
                            struct dj_policy_errors *errs, dj_err *err)
{
  size_t bad = 0;
  char msg[DJ_ERR_MSG_MAX];
#define WIDER(...)                                                                              \
  do {                                                                                          \
    snprintf(msg, sizeof msg, __VA_ARGS__);                                                     \
    if (bad++ == 0)                                                                             \
      dj_error(err, 0, "%s", msg);                                                              \
    if (errs && errs->n < DJ_POLICY_MAX_ERRORS)                                                 \
      errs->msgs[errs->n++] = dj_xstrdup(msg);                                                  \
    else if (errs)                                                                              \
      errs->dropped++;                                                                          \
  } while (0)
  for (size_t i = 0; i < t->n_keys; i++) {
    const struct dj_key_rule *k = &t->keys[i];
    for (size_t j = 0; j < k->n_jurisdictions; j++)
      if (!strv_has(op->jurisdictions, op->n_jurisdictions, k->jurisdictions[j]))
        WIDER("keys.%s.jurisdictions[%zu]: \"%s\" is not an operator jurisdiction", k->key_id, j,
              k->jurisdictions[j]);
    for (size_t j = 0; j < k->n_sites; j++) {
      bool any = false;
      for (size_t s = 0; s < op->n_sites && !any; s++)
        any = fnmatch(k->sites[j], op->sites[s].name, 0) == 0;
      if (!any)
        WIDER("keys.%s.sites[%zu]: \"%s\" matches no operator site", k->key_id, j, k->sites[j]);
    }
    for (size_t j = 0; j < k->n_classes; j++)
      if (!find_class(op, k->classes[j]))
        WIDER("keys.%s.hardware_classes[%zu]: \"%s\" is not an operator hardware class", k->key_id, j,
              k->classes[j]);
  }
#undef WIDER
  return bad ? -1 : 0;
}
