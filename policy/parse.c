/* Strict parsers of the operator and tenant policy documents: unknown properties are refused (a
 * typo in security configuration must not silently allow), and every error is collected with its
 * JSON path so `policy check` shows them all at once. */
#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "policy/policy.h"

struct pctx {
  struct dj_policy_errors *errs;
  dj_err *err;
  size_t n;                           /* errors found */
};

__attribute__((format(printf, 2, 3))) static void perr(struct pctx *c, const char *fmt, ...)
{
  char msg[DJ_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->n++ == 0)
    dj_error(c->err, 0, "%s", msg);
  if (!c->errs)
    return;
  if (c->errs->n < DJ_POLICY_MAX_ERRORS)
    c->errs->msgs[c->errs->n++] = dj_xstrdup(msg);
  else
    c->errs->dropped++;
}

/* Record the message a common/json.h helper left in tmp. */
static void pnote(struct pctx *c, const dj_err *tmp)
{
  perr(c, "%s", tmp->msg);
}

void dj_policy_errors_clear(struct dj_policy_errors *e)
{
  for (size_t i = 0; i < e->n; i++)
    free(e->msgs[i]);
  e->n = 0;
  e->dropped = 0;
}

static void strv_free(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* Refuse members not in allowed (NULL-terminated). */
static void check_members(struct pctx *c, json_t *obj, const char *path, const char *const *allowed)
{
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(key, allowed[i]) == 0;
    if (!ok) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, path, key);
      perr(c, "%s: unknown property", p);
    }
  }
}

static bool is_lower_hex(const char *s, size_t len)
{
  if (strlen(s) != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
      return false;
  return true;
}

static bool is_sha256_digest(const char *s)
{
  return strncmp(s, "sha256:", 7) == 0 && is_lower_hex(s + 7, 64);
}

/* A non-empty array of non-empty strings, copied. */
static int string_list(struct pctx *c, json_t *arr, const char *path, bool allow_empty, char ***out, size_t *n)
{
  if (!json_is_array(arr)) {
    perr(c, "%s: expected an array, got %s", path, dj_json_type_name(arr));
    return -1;
  }
  if (!allow_empty && json_array_size(arr) == 0) {
    perr(c, "%s: must not be empty", path);
    return -1;
  }
  char **v = dj_xcalloc(json_array_size(arr) + 1, sizeof *v);
  size_t k = 0, bad = c->n;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    char p[DJ_JPATH_MAX];
    dj_jpath_index(p, path, i);
    if (!json_is_string(e))
      perr(c, "%s: expected a string, got %s", p, dj_json_type_name(e));
    else if (json_string_length(e) == 0 || strlen(json_string_value(e)) != json_string_length(e))
      perr(c, "%s: must be a non-empty string without NUL", p);
    else
      v[k++] = dj_xstrdup(json_string_value(e));
  }
  if (c->n != bad) {
    strv_free(v, k);
    return -1;
  }
  *out = v;
  *n = k;
  return 0;
}

static int req_string_list(struct pctx *c, json_t *obj, const char *key, const char *path, bool allow_empty,
                           char ***out, size_t *n)
{
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, key);
  json_t *arr = json_object_get(obj, key);
  if (!arr) {
    perr(c, "%s: missing", p);
    return -1;
  }
  return string_list(c, arr, p, allow_empty, out, n);
}

static int req_object(struct pctx *c, json_t *obj, const char *key, const char *path, json_t **out)
{
  dj_err tmp = { 0 };
  if (dj_json_req_object(obj, key, path, out, &tmp) < 0) {
    pnote(c, &tmp);
    return -1;
  }
  return 0;
}

static int opt_bool(struct pctx *c, json_t *obj, const char *key, const char *path, bool *out)
{
  dj_err tmp = { 0 };
  if (dj_json_opt_bool(obj, key, path, out, &tmp) < 0) {
    pnote(c, &tmp);
    return -1;
  }
  return 0;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

int dj_policy_kind(json_t *doc, dj_err *err)
{
  const char *kind;
  if (dj_json_req_string(doc, "kind", "", &kind, err) < 0)
    return -1;
  if (strcmp(kind, "operator") == 0)
    return DJ_POLICY_OPERATOR;
  if (strcmp(kind, "tenant") == 0)
    return DJ_POLICY_TENANT;
  return dj_error(err, 0, "kind: \"%s\" is neither \"operator\" nor \"tenant\"", kind);
}

/* ---- operator ---- */

static size_t bank_hex_len(const char *bank)
{
  static const struct { const char *name; size_t len; } banks[] = {
    { "sha1", 40 }, { "sha256", 64 }, { "sha384", 96 }, { "sha512", 128 },
  };
  for (size_t i = 0; i < sizeof banks / sizeof banks[0]; i++)
    if (strcmp(bank, banks[i].name) == 0)
      return banks[i].len;
  return 0;
}

static void parse_vendor(struct pctx *c, const char *name, json_t *v, const char *path, struct dj_tpm_vendor *out)
{
  static const char *const members[] = { "min_firmware", "denied_firmware", NULL };
  out->manufacturer = dj_xstrdup(name);
  if (!json_is_object(v)) {
    perr(c, "%s: expected an object, got %s", path, dj_json_type_name(v));
    return;
  }
  check_members(c, v, path, members);
  dj_err tmp = { 0 };
  if (dj_json_opt_uint64(v, "min_firmware", path, INT64_MAX, &out->min_firmware, &tmp) < 0)
    pnote(c, &tmp);
  json_t *denied = json_object_get(v, "denied_firmware");
  if (!denied)
    return;
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, "denied_firmware");
  if (!json_is_array(denied)) {
    perr(c, "%s: expected an array, got %s", p, dj_json_type_name(denied));
    return;
  }
  out->denied_firmware = dj_xcalloc(json_array_size(denied) + 1, sizeof *out->denied_firmware);
  size_t i;
  json_t *e;
  json_array_foreach(denied, i, e) {
    char pi[DJ_JPATH_MAX];
    dj_jpath_index(pi, p, i);
    if (!json_is_integer(e) || json_integer_value(e) < 0)
      perr(c, "%s: expected a non-negative integer, got %s", pi, dj_json_type_name(e));
    else
      out->denied_firmware[out->n_denied++] = (uint64_t) json_integer_value(e);
  }
}

/* An inline root must at least be one X.509 certificate; paths are loaded by the verifier. */
static bool pem_is_certificate(const char *pem)
{
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (!bio)
    return false;
  X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  X509_free(x);
  return x != NULL;
}

/* Each entry an absolute path or an inline PEM certificate. */
static void cert_sources(struct pctx *c, const char *path, char *const *v, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char p[DJ_JPATH_MAX];
    dj_jpath_index(p, path, i);
    /* a relative path would depend on the verifier's working directory */
    if (strncmp(v[i], "-----BEGIN CERTIFICATE-----", 27) == 0) {
      if (!pem_is_certificate(v[i]))
        perr(c, "%s: inline PEM is not a certificate", p);
    } else if (v[i][0] != '/')
      perr(c, "%s: expected an absolute path or an inline PEM certificate", p);
  }
}

static void parse_hardware(struct pctx *c, json_t *hw, struct dj_operator_policy *out)
{
  static const char *const members[] = { "ek_roots", "ek_intermediates", "manufacturers", "inventory_required",
                                         "require_clock_safe", NULL };
  check_members(c, hw, "hardware", members);
  if (req_string_list(c, hw, "ek_roots", "hardware", false, &out->ek_roots, &out->n_ek_roots) == 0)
    cert_sources(c, "hardware.ek_roots", out->ek_roots, out->n_ek_roots);
  json_t *inter = json_object_get(hw, "ek_intermediates");
  if (inter && string_list(c, inter, "hardware.ek_intermediates", true, &out->ek_intermediates,
                           &out->n_ek_intermediates) == 0)
    cert_sources(c, "hardware.ek_intermediates", out->ek_intermediates, out->n_ek_intermediates);
  json_t *m;
  if (req_object(c, hw, "manufacturers", "hardware", &m) == 0) {
    if (json_object_size(m) == 0)
      perr(c, "hardware.manufacturers: must not be empty");
    out->vendors = dj_xcalloc(json_object_size(m) + 1, sizeof *out->vendors);
    const char *name;
    json_t *v;
    json_object_foreach(m, name, v) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, "hardware.manufacturers", name);
      if (!name[0]) /* what a TPM without an EK certificate would match */
        perr(c, "%s: a manufacturer id must not be empty", p);
      parse_vendor(c, name, v, p, &out->vendors[out->n_vendors++]);
    }
  }
  /* absent means true: the safe default cannot be forgotten */
  out->inventory_required = true;
  out->require_clock_safe = true;
  opt_bool(c, hw, "inventory_required", "hardware", &out->inventory_required);
  opt_bool(c, hw, "require_clock_safe", "hardware", &out->require_clock_safe);
}

/* DESIGN.md §5 check 10: the node's PCR 0-7 must match, so a bank that leaves one out would let
 * anything through there (an option ROM, a boot loader, Secure Boot turned off). */
static void missing_pcrs(struct pctx *c, const char *path, unsigned named)
{
  char list[32] = "";
  size_t len = 0;
  for (unsigned k = 0; k < 8; k++)
    if (!(named & (1u << k)))
      len += (size_t) snprintf(list + len, sizeof list - len, "%s%u", len ? ", " : "", k);
  perr(c, "%s: PCR %s missing (the boot reference values are PCR 0-7)", path, list);
}

static void parse_class(struct pctx *c, const char *name, json_t *v, const char *path, struct dj_hw_class *out)
{
  static const char *const members[] = { "boot", NULL };
  out->name = dj_xstrdup(name);
  if (!json_is_object(v)) {
    perr(c, "%s: expected an object, got %s", path, dj_json_type_name(v));
    return;
  }
  check_members(c, v, path, members);
  json_t *boot;
  if (req_object(c, v, "boot", path, &boot) < 0)
    return;
  char bp[DJ_JPATH_MAX];
  dj_jpath_key(bp, path, "boot");
  if (json_object_size(boot) == 0)
    perr(c, "%s: must name at least one bank", bp);
  size_t total = 0;
  const char *bank;
  json_t *pcrs;
  json_object_foreach(boot, bank, pcrs) total += json_is_object(pcrs) ? json_object_size(pcrs) : 0;
  out->boot = dj_xcalloc(total + 1, sizeof *out->boot);
  json_object_foreach(boot, bank, pcrs) {
    char p[DJ_JPATH_MAX];
    dj_jpath_key(p, bp, bank);
    size_t hexlen = bank_hex_len(bank);
    if (!hexlen) {
      perr(c, "%s: unknown bank (sha1, sha256, sha384 or sha512)", p);
      continue;
    }
    if (!json_is_object(pcrs)) {
      perr(c, "%s: expected an object of PCR index to digest, got %s", p, dj_json_type_name(pcrs));
      continue;
    }
    unsigned named = 0; /* PCRs 0-7 this bank names, a bad digest included (reported as such) */
    const char *idx;
    json_t *hex;
    json_object_foreach(pcrs, idx, hex) {
      char pp[DJ_JPATH_MAX];
      dj_jpath_key(pp, p, idx);
      if (strlen(idx) != 1 || idx[0] < '0' || idx[0] > '7') {
        perr(c, "%s: PCR index must be 0-7", pp);
        continue;
      }
      named |= 1u << (idx[0] - '0');
      if (!json_is_string(hex) || !is_lower_hex(json_string_value(hex), hexlen)) {
        perr(c, "%s: expected %zu lower-case hex digits", pp, hexlen);
        continue;
      }
      struct dj_pcr_ref *r = &out->boot[out->n_boot++];
      r->bank = dj_xstrdup(bank);
      r->index = (unsigned) (idx[0] - '0');
      r->hex = dj_xstrdup(json_string_value(hex));
    }
    if (named != 0xff)
      missing_pcrs(c, p, named);
  }
}

int dj_operator_policy_parse(json_t *doc, struct dj_operator_policy *out, struct dj_policy_errors *errs,
                             dj_err *err)
{
  static const char *const members[] = { "kind", "hardware", "jurisdictions", "sites", "hardware_classes", NULL };
  struct pctx c = { .errs = errs, .err = err };
  memset(out, 0, sizeof *out);
  dj_err kerr = { 0 };
  int kind = dj_policy_kind(doc, &kerr);
  if (kind < 0 || kind != DJ_POLICY_OPERATOR) {
    if (kind < 0)
      pnote(&c, &kerr);
    else
      perr(&c, "kind: expected \"operator\", got \"tenant\"");
    return -1;
  }
  check_members(&c, doc, "", members);
  json_t *hw;
  if (req_object(&c, doc, "hardware", "", &hw) == 0)
    parse_hardware(&c, hw, out);
  req_string_list(&c, doc, "jurisdictions", "", false, &out->jurisdictions, &out->n_jurisdictions);
  json_t *sites;
  if (req_object(&c, doc, "sites", "", &sites) == 0) {
    out->sites = dj_xcalloc(json_object_size(sites) + 1, sizeof *out->sites);
    const char *name;
    json_t *j;
    json_object_foreach(sites, name, j) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, "sites", name);
      if (!json_is_string(j)) {
        perr(&c, "%s: expected a jurisdiction string, got %s", p, dj_json_type_name(j));
        continue;
      }
      if (!strv_has(out->jurisdictions, out->n_jurisdictions, json_string_value(j)))
        perr(&c, "%s: jurisdiction \"%s\" is not in jurisdictions", p, json_string_value(j));
      out->sites[out->n_sites].name = dj_xstrdup(name);
      out->sites[out->n_sites++].jurisdiction = dj_xstrdup(json_string_value(j));
    }
  }
  json_t *classes;
  if (req_object(&c, doc, "hardware_classes", "", &classes) == 0) {
    if (json_object_size(classes) == 0)
      perr(&c, "hardware_classes: must not be empty");
    out->classes = dj_xcalloc(json_object_size(classes) + 1, sizeof *out->classes);
    const char *name;
    json_t *v;
    json_object_foreach(classes, name, v) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, "hardware_classes", name);
      parse_class(&c, name, v, p, &out->classes[out->n_classes++]);
    }
  }
  if (c.n) {
    dj_operator_policy_free(out);
    return -1;
  }
  return 0;
}

void dj_operator_policy_free(struct dj_operator_policy *p)
{
  strv_free(p->ek_roots, p->n_ek_roots);
  strv_free(p->ek_intermediates, p->n_ek_intermediates);
  for (size_t i = 0; i < p->n_vendors; i++) {
    free(p->vendors[i].manufacturer);
    free(p->vendors[i].denied_firmware);
  }
  free(p->vendors);
  strv_free(p->jurisdictions, p->n_jurisdictions);
  for (size_t i = 0; i < p->n_sites; i++) {
    free(p->sites[i].name);
    free(p->sites[i].jurisdiction);
  }
  free(p->sites);
  for (size_t i = 0; i < p->n_classes; i++) {
    free(p->classes[i].name);
    for (size_t k = 0; k < p->classes[i].n_boot; k++) {
      free(p->classes[i].boot[k].bank);
      free(p->classes[i].boot[k].hex);
    }
    free(p->classes[i].boot);
  }
  free(p->classes);
  memset(p, 0, sizeof *p);
}

/* ---- tenant ---- */

static void parse_workload(struct pctx *c, json_t *w, const char *path, struct dj_workload_rule *out)
{
  static const char *const members[] = { "manifest", "profile", "config", NULL };
  static const char *const config_members[] = { "digest", "args", "env", "mounts", NULL };
  if (!json_is_object(w)) {
    perr(c, "%s: expected an object, got %s", path, dj_json_type_name(w));
    return;
  }
  check_members(c, w, path, members);
  const char *s;
  dj_err tmp = { 0 };
  char p[DJ_JPATH_MAX];
  if (dj_json_req_string(w, "manifest", path, &s, &tmp) < 0)
    pnote(c, &tmp);
  else if (!is_sha256_digest(s)) {
    dj_jpath_key(p, path, "manifest");
    perr(c, "%s: expected sha256:<64 lower-case hex digits>", p);
  } else
    out->manifest = dj_xstrdup(s);
  if (dj_json_req_string(w, "profile", path, &s, &tmp) < 0)
    pnote(c, &tmp);
  else
    out->profile = dj_xstrdup(s);
  json_t *cfg;
  if (req_object(c, w, "config", path, &cfg) < 0)
    return;
  char cp[DJ_JPATH_MAX];
  dj_jpath_key(cp, path, "config");
  check_members(c, cfg, cp, config_members);
  json_t *digest = json_object_get(cfg, "digest");
  if (digest) {
    dj_jpath_key(p, cp, "digest");
    if (json_object_get(cfg, "args") || json_object_get(cfg, "env") || json_object_get(cfg, "mounts"))
      perr(c, "%s: either digest or args/env/mounts rules, not both", cp);
    else if (!json_is_string(digest) || !is_sha256_digest(json_string_value(digest)))
      perr(c, "%s: expected sha256:<64 lower-case hex digits>", p);
    else
      out->config_digest = dj_xstrdup(json_string_value(digest));
    return;
  }
  /* rules: all three explicit (deny by default: nothing is implied) */
  json_t *args = json_object_get(cfg, "args");
  dj_jpath_key(p, cp, "args");
  if (!args)
    perr(c, "%s: missing (or give config.digest)", p);
  else if (!json_is_array(args) || json_array_size(args) == 0)
    perr(c, "%s: expected a non-empty array of argument vectors", p);
  else {
    out->args = dj_xcalloc(json_array_size(args) + 1, sizeof *out->args);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
      char pi[DJ_JPATH_MAX];
      dj_jpath_index(pi, p, i);
      size_t n;
      if (string_list(c, a, pi, false, &out->args[out->n_args], &n) == 0)
        out->n_args++;
    }
  }
  req_string_list(c, cfg, "env", cp, true, &out->env, &out->n_env);
  req_string_list(c, cfg, "mounts", cp, true, &out->mounts, &out->n_mounts);
}

static void workload_free(struct dj_workload_rule *w)
{
  free(w->manifest);
  free(w->profile);
  free(w->config_digest);
  for (size_t i = 0; i < w->n_args; i++) {
    size_t n = 0;
    while (w->args[i][n])
      n++;
    strv_free(w->args[i], n);
  }
  free(w->args);
  strv_free(w->env, w->n_env);
  strv_free(w->mounts, w->n_mounts);
}

static void parse_key(struct pctx *c, const char *id, json_t *k, const char *path, struct dj_key_rule *out)
{
  static const char *const members[] = { "jurisdictions", "sites", "hardware_classes", "workloads",
                                         "max_evidence_age", NULL };
  out->key_id = dj_xstrdup(id);
  if (!json_is_object(k)) {
    perr(c, "%s: expected an object, got %s", path, dj_json_type_name(k));
    return;
  }
  check_members(c, k, path, members);
  req_string_list(c, k, "jurisdictions", path, false, &out->jurisdictions, &out->n_jurisdictions);
  req_string_list(c, k, "sites", path, false, &out->sites, &out->n_sites);
  req_string_list(c, k, "hardware_classes", path, false, &out->classes, &out->n_classes);
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, "max_evidence_age");
  dj_err tmp = { 0 };
  int r = dj_json_opt_uint64(k, "max_evidence_age", path, 86400, &out->max_evidence_age, &tmp);
  if (r < 0)
    pnote(c, &tmp);
  else if (r == 0)
    perr(c, "%s: missing", p);
  else if (out->max_evidence_age == 0)
    perr(c, "%s: must be at least 1", p);
  json_t *ws = json_object_get(k, "workloads");
  dj_jpath_key(p, path, "workloads");
  if (!ws) {
    perr(c, "%s: missing", p);
    return;
  }
  if (!json_is_array(ws) || json_array_size(ws) == 0) {
    perr(c, "%s: expected a non-empty array", p);
    return;
  }
  out->workloads = dj_xcalloc(json_array_size(ws) + 1, sizeof *out->workloads);
  size_t i;
  json_t *w;
  json_array_foreach(ws, i, w) {
    char pi[DJ_JPATH_MAX];
    dj_jpath_index(pi, p, i);
    parse_workload(c, w, pi, &out->workloads[out->n_workloads++]);
  }
}

int dj_tenant_policy_parse(json_t *doc, struct dj_tenant_policy *out, struct dj_policy_errors *errs,
                           dj_err *err)
{
  static const char *const members[] = { "kind", "tenant", "keys", NULL };
  struct pctx c = { .errs = errs, .err = err };
  memset(out, 0, sizeof *out);
  dj_err kerr = { 0 };
  int kind = dj_policy_kind(doc, &kerr);
  if (kind < 0 || kind != DJ_POLICY_TENANT) {
    if (kind < 0)
      pnote(&c, &kerr);
    else
      perr(&c, "kind: expected \"tenant\", got \"operator\"");
    return -1;
  }
  check_members(&c, doc, "", members);
  const char *s;
  dj_err tmp = { 0 };
  if (dj_json_req_string(doc, "tenant", "", &s, &tmp) < 0)
    pnote(&c, &tmp);
  else if (*s == '\0')
    perr(&c, "tenant: must not be empty");
  else
    out->tenant = dj_xstrdup(s);
  json_t *keys;
  if (req_object(&c, doc, "keys", "", &keys) == 0) {
    if (json_object_size(keys) == 0)
      perr(&c, "keys: must not be empty");
    out->keys = dj_xcalloc(json_object_size(keys) + 1, sizeof *out->keys);
    const char *id;
    json_t *k;
    json_object_foreach(keys, id, k) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, "keys", id);
      parse_key(&c, id, k, p, &out->keys[out->n_keys++]);
    }
  }
  if (c.n) {
    dj_tenant_policy_free(out);
    return -1;
  }
  return 0;
}

void dj_tenant_policy_free(struct dj_tenant_policy *p)
{
  free(p->tenant);
  for (size_t i = 0; i < p->n_keys; i++) {
    struct dj_key_rule *k = &p->keys[i];
    free(k->key_id);
    strv_free(k->jurisdictions, k->n_jurisdictions);
    strv_free(k->sites, k->n_sites);
    strv_free(k->classes, k->n_classes);
    for (size_t w = 0; w < k->n_workloads; w++)
      workload_free(&k->workloads[w]);
    free(k->workloads);
  }
  free(p->keys);
  memset(p, 0, sizeof *p);
}
