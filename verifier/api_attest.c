/* Challenges and attestation: every check of DESIGN.md §5, every time, both policies, then the key
 * release as JWEs (ECDH-ES+A256KW, A256GCM) to the ephemeral key bound in the quote. The work that
 * needs no shared state (signature, binding, PCR digest, log replay, unwrapping layer keys, the
 * JWEs) runs outside the store's write lock; the nonce, the node's status and counters, the policy
 * decision and the audit record are one transaction. A nonce is consumed whatever the answer. */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "attest/codes.h"
#include "attest/evidence.h"
#include "attest/mlog.h"
#include "attest/quote.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"
#include "images/ocicrypt.h"
#include "verifier/requests.h"
#include "verifier/server.h"

int dj_api_challenge(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  const char *node_id;
  struct dj_vserver *srv = r->w->srv;
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  if (dj_vchallenge_req_parse(j, &node_id, &err) < 0)
    return dj_vreq_error(r, 400, "malformed", "%s", err.msg);
  if (!dj_vrate_allow(srv, "addr", r->peer, srv->cfg.addr_rate, srv->cfg.addr_burst))
    return dj_vreq_error(r, 429, "rate-limited", "too many challenges from %s", r->peer);
  _cleanup_free_ struct dj_vnode *n = dj_xmalloc(sizeof *n);
  struct dj_store *st = r->w->st;
  int found = st->ops->node_get(st, node_id, n, &err);
  if (found < 0)
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  if (!found)
    return dj_vreq_error(r, 404, "node-unknown", "node %s is not enrolled", node_id);
  if (strcmp(n->status, DJ_NODE_ACTIVATING) == 0)
    return dj_vreq_error(r, 409, "node-not-activated", "node %s has not activated its credential", node_id);
  if (!dj_vrate_allow(srv, "node", node_id, srv->cfg.node_rate, srv->cfg.node_burst))
    return dj_vreq_error(r, 429, "rate-limited", "too many challenges for node %s", node_id);
  int64_t now = dj_vnow_ms(), outstanding = 0;
  struct dj_vnonce nonce = { .issued_ms = now, .expires_ms = now + srv->cfg.nonce_lifetime_ms,
                             .mono_ms = dj_vmono_ms() };
  RAND_bytes(nonce.nonce, sizeof nonce.nonce);
  snprintf(nonce.node_id, sizeof nonce.node_id, "%s", node_id);
  snprintf(nonce.instance, sizeof nonce.instance, "%s", srv->instance);
  if (st->ops->begin(st, &err) < 0)
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  if (st->ops->nonce_outstanding(st, node_id, now, srv->cfg.max_outstanding_nonces, &outstanding, &err) < 0 ||
      (outstanding < srv->cfg.max_outstanding_nonces &&
       (st->ops->nonce_put(st, &nonce, &err) < 0 || st->ops->commit(st, &err) < 0))) {
    st->ops->rollback(st);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  if (outstanding >= srv->cfg.max_outstanding_nonces) {
    st->ops->rollback(st);
    return dj_vreq_error(r, 429, "too-many-nonces", "node %s has %" PRId64 " unused nonces", node_id, outstanding);
  }
  _cleanup_free_ char *b64 = dj_b64url_encode(nonce.nonce, sizeof nonce.nonce);
  r->status = 201;
  r->resp = json_pack("{s:s, s:I, s:s, s:i}", "nonce", b64, "expires_in_ms", (json_int_t) srv->cfg.nonce_lifetime_ms,
                      "pcr_selection", srv->cfg.pcr_selection_text, "workload_pcr", (int) srv->cfg.workload_pcr);
  return 0;
}

/* ---- attestation ---------------------------------------------------------------------------- */

#define DJ_VMAX_UNWRAPS 1024

struct item {                      /* one requested key, or one layer */
  const char *id;                  /* key id (for a layer: the KEK that opened it) */
  struct dj_vkey key;
  bool known;
  char *jwe;                       /* the answer, made before the decision */
  const char *layer;               /* layer digest, for layers */
  json_t *decision;                /* policy decision */
  bool allowed;
};

struct attest {
  struct dj_vreq *r;
  struct dj_vattest_req q;
  struct dj_vnode node;
  struct dj_quote_claims claims;
  bool quote_ok;
  json_t *checks;
  const char *fail;                /* the first failed check's code */
  char fail_msg[600];
  struct item *keys, *layers;       /* n_keys and n_layers of them */
  char evidence_digest[72];
  struct dj_pcr_claim pcrs[DJ_PCR_VALUES_MAX];
  char pcr_hex[DJ_PCR_VALUES_MAX][2 * TPM2_SHA512_DIGEST_SIZE + 1];
  const char *args[256], *env[256], *mounts[256];
  size_t n_args, n_env, n_mounts;
  bool config_ok;
  bool gate;                       /* node, AK and nonce looked right before any costly work */
  bool in_inventory;               /* the inventory lists the node's EK where it was approved */
  char placement[4][DJ_VNAME_MAX]; /* the node's policy claims the decisions were made on */
  uint64_t age;                    /* the evidence age (s) the decisions were made with */
  bool decided;                    /* the keys' decisions are made */
};

__attribute__((format(printf, 4, 5))) static void check(struct attest *a, const char *name, const char *code,
                                                        const char *fmt, ...)
{
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  json_t *c = json_pack("{s:s, s:s, s:s}", "check", name, "result", code ? "failed" : "met", "detail", detail);
  if (code) {
    json_object_set_new(c, "code", json_string(code));
    if (a->fail == NULL) {
      a->fail = code;
      snprintf(a->fail_msg, sizeof a->fail_msg, "%s: %s", name, detail);
    }
  }
  json_array_append_new(a->checks, c);
}

/* Check 1 on a node row: enrolled, approved, not revoked, and the evidence's AK is its AK. */
static void check_node(struct attest *a, int found)
{
  const struct dj_vnode *n = &a->node;
  if (!found) {
    check(a, "node", "node-unknown", "node %s is not enrolled", a->q.node_id);
    return;
  }
  if (strcmp(n->status, DJ_NODE_APPROVED) != 0) {
    const char *code = strcmp(n->status, DJ_NODE_REVOKED) == 0   ? "node-revoked"
                       : strcmp(n->status, DJ_NODE_PENDING) == 0 ? "node-pending"
                                                                 : "node-not-activated";
    check(a, "node", code, "node %s is %s%s%s", n->id, n->status, n->reason[0] ? ": " : "", n->reason);
    return;
  }
  check(a, "node", NULL, "node %s is approved at %s (%s, %s)", n->id, n->site, n->jurisdiction, n->hw_class);
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t len = 0;
  dj_err err = { 0 };
  dj_tpm_marshal_public(&a->q.ev.ak, buf, &len, &err);
  if (len == n->ak_public_len && memcmp(buf, n->ak_public, len) == 0)
    check(a, "ak", NULL, "the evidence's AK is the node's");
  else if (len == n->new_ak_len && memcmp(buf, n->new_ak, len) == 0)
    check(a, "ak", "ak-rotation-pending", "the evidence's AK is a new AK the operator has not approved yet");
  else
    check(a, "ak", "ak-unknown", "the evidence's AK is not the node's AK");
}

/* Prepared AKs of this worker (checked once, then reused: their OpenSSL key and verification
 * context), by the SHA-256 of their marshalled public area. */
struct dj_vak_cache {
  struct { uint8_t id[32]; bool used; struct dj_ak_key key; } slot[256];
};

void dj_vak_cache_free(struct dj_vak_cache *c)
{
  for (size_t i = 0; c && i < DJ_ARRAY_SIZE(c->slot); i++)
    if (c->slot[i].used)
      dj_ak_key_free(&c->slot[i].key);
  free(c);
}

static struct dj_ak_key *ak_prepared(struct dj_vworker *w, const TPM2B_PUBLIC *ak, dj_err *err)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX], id[32];
  size_t len = 0;
  if (dj_tpm_marshal_public(ak, buf, &len, err) < 0)
    return NULL;
  SHA256(buf, len, id);
  if (w->akc == NULL)
    w->akc = dj_xcalloc(1, sizeof *w->akc);
  __typeof__(w->akc->slot[0]) *s = &w->akc->slot[id[0]];
  if (s->used && memcmp(s->id, id, 32) == 0)
    return &s->key;
  if (s->used)
    dj_ak_key_free(&s->key);
  s->used = false;
  if (dj_ak_check(ak, NULL, NULL, err) < 0 || dj_ak_key_init(&s->key, ak, err) < 0)
    return NULL;
  memcpy(s->id, id, 32);
  s->used = true;
  return &s->key;
}

/* Checks 3-7 and 10: the quote under the node's AK bound to this request, and the log replay. */
static void check_evidence(struct attest *a)
{
  struct dj_vserver *srv = a->r->w->srv;
  dj_err err = { 0 };
  uint8_t binding[32];
  dj_binding_hash(a->q.nonce, a->q.thumbprint, a->q.workload_digest, binding);
  struct dj_quote_expect ex = { .extra_data = binding, .extra_len = sizeof binding,
                                .selection = &srv->cfg.pcr_selection, .pcrs = &a->q.ev.pcrs };
  struct dj_ak_key *key = ak_prepared(a->r->w, &a->q.ev.ak, &err);
  int r = key ? dj_quote_verify_key(a->q.ev.msg, a->q.ev.msg_len, a->q.ev.sig, a->q.ev.sig_len, key, &ex, &a->claims,
                                    &err)
              : -1;
  if (r < 0) {
    check(a, "quote", dj_attest_code_name(err.code ? err.code : DJ_ATTEST_E_MALFORMED), "%s", err.msg);
    return;
  }
  a->quote_ok = true;
  check(a, "quote", NULL, "signature, magic, type, binding, PCR selection and digest verify");
  const struct dj_pcr_value *wl = dj_pcr_values_find(&a->q.ev.pcrs, TPM2_ALG_SHA256, srv->cfg.workload_pcr);
  struct dj_mlog log;
  if (dj_mlog_parse(a->q.ev.log, a->q.ev.log_len, &log, &err) < 0) {
    check(a, "log", "log-format", "%s", err.msg);
    return;
  }
  r = wl ? dj_mlog_check(&log, wl, &err) : dj_error_code(&err, DJ_ATTEST_E_LOG_REPLAY, "no workload PCR value");
  if (r < 0)
    check(a, "log", "log-replay", "%s", err.msg);
  else
    check(a, "log", NULL, "%zu events replay to PCR sha256:%u", log.count, srv->cfg.workload_pcr);
  dj_mlog_free(&log);
}

/* The workload's args, env and mount destinations, for the tenant's config rules. */
static void workload_claims(struct attest *a)
{
  json_t *proc = json_object_get(a->q.config, "process"), *v;
  size_t i;
  a->config_ok = true;
  json_array_foreach(json_object_get(proc, "args"), i, v) {
    if (!json_is_string(v) || a->n_args == DJ_ARRAY_SIZE(a->args))
      a->config_ok = false;
    else
      a->args[a->n_args++] = json_string_value(v);
  }
  json_array_foreach(json_object_get(proc, "env"), i, v) {
    if (!json_is_string(v) || a->n_env == DJ_ARRAY_SIZE(a->env))
      a->config_ok = false;
    else
      a->env[a->n_env++] = json_string_value(v);
  }
  json_array_foreach(json_object_get(a->q.config, "mounts"), i, v) {
    json_t *d = json_object_get(v, "destination");
    if (!json_is_string(d) || a->n_mounts == DJ_ARRAY_SIZE(a->mounts))
      a->config_ok = false;
    else
      a->mounts[a->n_mounts++] = json_string_value(d);
  }
  for (size_t k = 0; k < a->q.ev.pcrs.count; k++) {
    const struct dj_pcr_value *p = &a->q.ev.pcrs.v[k];
    dj_vhex(p->digest, p->size, a->pcr_hex[k]);
    a->pcrs[k] = (struct dj_pcr_claim){ .bank = dj_tpm_hash_name(p->bank), .index = p->index, .hex = a->pcr_hex[k] };
  }
}

static void evp_freep(EVP_PKEY **k)
{
  EVP_PKEY_free(*k);
}

/* Whether the blob recipient[0..rl) is one of the comma-separated blobs of the layer's keys.jwe in
 * the manifest. */
static bool blob_in_manifest(json_t *manifest, const char *digest, const char *recipient, size_t rl)
{
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(manifest, "layers"), i, l) {
    const char *d = json_string_value(json_object_get(l, "digest"));
    const char *jwe = json_string_value(json_object_get(json_object_get(l, "annotations"), DJ_ANNOT_KEYS_JWE));
    if (d == NULL || jwe == NULL || strcmp(d, digest) != 0)
      continue;
    for (const char *p = jwe; *p;) {
      const char *e = strchrnul(p, ',');
      if ((size_t) (e - p) == rl && memcmp(p, recipient, rl) == 0)
        return true;
      p = *e ? e + 1 : e;
    }
  }
  return false;
}

/* A layer's recipient is one blob, or several separated by commas (the layer's whole keys.jwe: a
 * node cannot tell which blob this verifier's KEK opens); every one must be in the manifest. */
static bool recipient_in_manifest(json_t *manifest, const char *digest, const char *recipient)
{
  for (const char *p = recipient;;) {
    const char *e = strchrnul(p, ',');
    if (e == p || !blob_in_manifest(manifest, digest, p, (size_t) (e - p)))
      return false;
    if (*e == '\0')
      return true;
    p = e + 1;
  }
}

static size_t recipient_blobs(const char *recipient)
{
  size_t n = 1;
  for (const char *p = recipient; *p; p++)
    n += *p == ',';
  return n;
}

/* The JWE to the ephemeral key of a released value. */
static char *wrap(struct attest *a, const uint8_t *pt, size_t len)
{
  char *out = NULL;
  dj_err err = { 0 };
  enum dj_jwe_alg alg = DJ_JWE_ECDH_ES_A256KW;
  return dj_jwe_encrypt(pt, len, &a->q.ephemeral, &alg, 1, &out, &err) == 0 ? out : NULL;
}

/* The keys and layers asked for; past the gate, the keys' rows (tenant, kind, sealed value): a
 * request that does not pass it learns nothing of which key ids exist or whose they are. */
static void lookup_keys(struct attest *a)
{
  dj_err err = { 0 };
  for (size_t i = 0; i < a->q.n_layers; i++)
    a->layers[i].layer = a->q.layers[i].digest;
  for (size_t i = 0; i < a->q.n_keys; i++) {
    struct item *it = &a->keys[i];
    it->id = a->q.keys[i];
    it->known = a->gate && dj_vpolicies_key(a->r->w, it->id, &it->key, &err) == 1;
  }
}

/* Unseal the secrets and wrap them to the ephemeral key (outside the lock, once both policies
 * allowed every key: released only when the transaction's checks hold too). */
static void prepare_keys(struct attest *a)
{
  struct dj_vworker *w = a->r->w;
  dj_err err = { 0 };
  for (size_t i = 0; i < a->q.n_keys; i++) {
    struct item *it = &a->keys[i];
    if (!it->known || strcmp(it->key.kind, DJ_KEY_SECRET) != 0)
      continue;
    uint8_t pt[DJ_VSEALED_MAX];
    size_t n = 0;
    char aad[2 * DJ_VNAME_MAX + 16];
    snprintf(aad, sizeof aad, "key:%s:%s:%s", it->key.tenant, it->id, it->key.kind);
    if (dj_unseal(&w->srv->master, aad, it->key.sealed, it->key.sealed_len, pt, &n, &err) == 0)
      it->jwe = wrap(a, pt, n);
    dj_wipe(pt, sizeof pt);
  }
}

/* Layers: the image manifest must be the workload's, every recipient must be in it, and one of the
 * requested KEKs must open it. Every unwrap failure reads the same (no oracle). */
static void prepare_layers(struct attest *a)
{
  if (a->q.n_layers == 0)
    return;
  char digest[72];
  uint8_t d[32];
  SHA256(a->q.image_manifest, a->q.image_manifest_len, d);
  strcpy(digest, "sha256:");
  dj_vhex(d, 32, digest + 7);
  if (strcmp(digest, a->q.manifest) != 0) {
    check(a, "image", "image-manifest-mismatch", "the image manifest sent is %s, not the workload's %s", digest,
          a->q.manifest);
    return;
  }
  json_t *m _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (dj_json_load_buf((const char *) a->q.image_manifest, a->q.image_manifest_len, &m, &err) < 0) {
    check(a, "image", "image-manifest-malformed", "the workload's manifest does not parse: %s", err.msg);
    return;
  }
  for (size_t i = 0; i < a->q.n_layers; i++)
    if (!recipient_in_manifest(m, a->q.layers[i].digest, a->q.layers[i].recipient)) {
      check(a, "image", "recipient-not-in-manifest",
            "layers[%zu]: the recipient is not in the keys of layer %.80s of the workload's manifest", i,
            a->q.layers[i].digest);
      return;
    }
  check(a, "image", NULL, "%zu layer recipients are in the workload's manifest", a->q.n_layers);
  struct dj_vworker *w = a->r->w;
  size_t keks = 0, blobs = 0;
  for (size_t k = 0; k < a->q.n_keys; k++)
    keks += a->keys[k].known && strcmp(a->keys[k].key.kind, DJ_KEY_KEK) == 0;
  for (size_t i = 0; i < a->q.n_layers; i++)
    blobs += recipient_blobs(a->q.layers[i].recipient);
  if (keks * blobs > DJ_VMAX_UNWRAPS) { /* each try may be an RSA decryption */
    check(a, "layer", "layer-unwrap", "%zu layer recipients and %zu KEKs: more than %d unwrap attempts", blobs, keks,
          DJ_VMAX_UNWRAPS);
    return;
  }
  for (size_t i = 0; i < a->q.n_layers; i++) {
    struct item *it = &a->layers[i];
    for (const char *b = a->q.layers[i].recipient; *b && !it->jwe;) {
      const char *e = strchrnul(b, ',');
      _cleanup_free_ uint8_t *jwe = NULL;
      size_t jlen = 0;
      int bad = dj_b64_decode(b, (size_t) (e - b), &jwe, &jlen);
      b = *e ? e + 1 : e;
      if (bad < 0)
        continue;
      for (size_t k = 0; k < a->q.n_keys && !it->jwe; k++) {
        struct item *kek = &a->keys[k];
        if (!kek->known || strcmp(kek->key.kind, DJ_KEY_KEK) != 0)
          continue;
        uint8_t der[DJ_VSEALED_MAX];
        size_t n = 0;
        char aad[2 * DJ_VNAME_MAX + 16];
        snprintf(aad, sizeof aad, "key:%s:%s:%s", kek->key.tenant, kek->id, kek->key.kind);
        if (dj_unseal(&w->srv->master, aad, kek->key.sealed, kek->key.sealed_len, der, &n, &err) < 0)
          continue;
        const unsigned char *p = der;
        __attribute__((cleanup(evp_freep))) EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long) n);
        dj_wipe(der, sizeof der);
        uint8_t *pt = NULL;
        size_t ptlen = 0;
        struct dj_layer_secret s;
        if (pk && dj_jwe_decrypt((const char *) jwe, jlen, pk, &pt, &ptlen, &err) == 0) {
          if (dj_ocicrypt_privopts_parse(pt, ptlen, &s, &err) == 0) {
            it->jwe = wrap(a, pt, ptlen);
            it->id = kek->id;
          }
          dj_wipe(&s, sizeof s);
          dj_wipe(pt, ptlen);
          free(pt);
        }
      }
    }
    if (!it->jwe) {
      check(a, "layer", "layer-unwrap", "layers[%zu]: no key of this request opens the layer's recipient", i);
      return;
    }
  }
}

static const struct item *key_item(struct attest *a, const char *id)
{
  for (size_t i = 0; id && i < a->q.n_keys; i++)
    if (strcmp(a->keys[i].id, id) == 0)
      return &a->keys[i];
  return NULL;
}

/* Check 11 for one key: both policies, with every reason, on the node's row and the evidence age. */
static void decide_key(struct attest *a, struct item *it, uint64_t age)
{
  json_decref(it->decision);
  it->decision = NULL;
  it->allowed = false;
  struct dj_vworker *w = a->r->w;
  dj_err err = { 0 };
  struct dj_vpolicies *pol = dj_vpolicies_get(w, &err);
  const struct dj_tenant_policy *t = it->known && pol ? dj_vpolicies_tenant(w, it->key.tenant, &err) : NULL;
  if (!it->known || pol == NULL || !pol->have_operator || t == NULL) {
    const char *why = !it->known ? "key-unknown" : pol && pol->have_operator ? "no-tenant-policy" : "no-operator-policy";
    it->decision = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "decision", "deny", "key", it->id, "reasons", "rule",
                             why, "result", "failed", "detail", why);
    return;
  }
  const struct dj_vnode *n = &a->node;
  struct dj_policy_claims c = {
    .site = n->site, .jurisdiction = n->jurisdiction, .hw_class = n->hw_class, .tpm_manufacturer = n->ek_manufacturer,
    .firmware_version = a->claims.firmware_version, .clock_safe = a->claims.counters.safe,
    .in_inventory = a->in_inventory, .pcrs = a->pcrs, .n_pcrs = a->q.ev.pcrs.count,
    .manifest_digest = a->q.manifest, .profile = a->q.profile, .config_digest = a->q.config_digest,
    .args = a->args, .n_args = a->n_args, .env = a->env, .n_env = a->n_env, .mounts = a->mounts,
    .n_mounts = a->n_mounts, .evidence_age = age, .key_id = it->id,
  };
  if (!a->config_ok)
    c.args = NULL, c.n_args = 0, c.manifest_digest = NULL; /* a config we cannot read matches nothing */
  it->allowed = dj_policy_evaluate(&pol->op, t, &c, &it->decision, &err) == 1;
}

/* Every key's decision; whether both policies allow them all. */
static bool decide_keys(struct attest *a, uint64_t age)
{
  bool all = true;
  for (size_t i = 0; i < a->q.n_keys; i++) {
    decide_key(a, &a->keys[i], age);
    all &= a->keys[i].allowed;
  }
  a->age = age;
  a->decided = true;
  return all;
}

static void placement_of(const struct dj_vnode *n, char out[4][DJ_VNAME_MAX])
{
  snprintf(out[0], DJ_VNAME_MAX, "%s", n->site);
  snprintf(out[1], DJ_VNAME_MAX, "%s", n->jurisdiction);
  snprintf(out[2], DJ_VNAME_MAX, "%s", n->hw_class);
  snprintf(out[3], DJ_VNAME_MAX, "%s", n->ek_manufacturer);
}

static uint64_t nonce_age(const struct dj_vserver *srv, const struct dj_vnonce *nonce, int64_t *elapsed_ms)
{
  bool mine = strcmp(nonce->instance, srv->instance) == 0;
  *elapsed_ms = mine ? dj_vmono_ms() - nonce->mono_ms : dj_vnow_ms() - nonce->issued_ms;
  return *elapsed_ms > 0 ? (uint64_t) *elapsed_ms / 1000 : 0;
}

/* Whether the nonce is this node's, unused and alive (elapsed: since it was issued). */
static bool nonce_live(const struct dj_vserver *srv, const struct dj_vnonce *nonce, enum dj_nonce_state state,
                       const char *node_id, int64_t elapsed)
{
  return state == DJ_NONCE_FRESH && strcmp(nonce->node_id, node_id) == 0 && dj_vnow_ms() <= nonce->expires_ms &&
         elapsed <= srv->cfg.nonce_lifetime_ms;
}

/* The gate, before any costly or secret work (a signature check, an unseal, an unwrap): the node is
 * enrolled and approved, the evidence's AK is its AK, the nonce is its own, unused and alive. Read
 * outside the transaction, which checks all of it again and consumes the nonce: the gate only
 * keeps whoever is not an approved node with a live challenge from getting work, or an answer about
 * a key, out of the verifier. Also the inventory claim, from the inventory as it is now. */
static void gate(struct attest *a)
{
  struct dj_vworker *w = a->r->w;
  struct dj_store *st = w->st;
  dj_err err = { 0 };
  enum dj_nonce_state state;
  struct dj_vnonce nonce;
  if (st->ops->node_get(st, a->q.node_id, &a->node, &err) != 1 || strcmp(a->node.status, DJ_NODE_APPROVED) != 0 ||
      st->ops->nonce_get(st, a->q.nonce, &state, &nonce, &err) < 0)
    return;
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t len = 0;
  int64_t elapsed;
  uint64_t age = nonce_age(w->srv, &nonce, &elapsed);
  if (dj_tpm_marshal_public(&a->q.ev.ak, buf, &len, &err) < 0 || len != a->node.ak_public_len ||
      memcmp(buf, a->node.ak_public, len) != 0 || !nonce_live(w->srv, &nonce, state, a->q.node_id, elapsed))
    return;
  a->in_inventory = dj_vnode_in_inventory(st, &a->node);
  placement_of(&a->node, a->placement);
  a->age = age;
  a->gate = true;
}

/* The nonce (check 2) and evidence age, the node again (its status may have changed) and check 8
 * against its stored counters; returns the evidence age in seconds. */
static uint64_t check_in_tx(struct attest *a, int *found, dj_err *err)
{
  struct dj_vworker *w = a->r->w;
  struct dj_vserver *srv = w->srv;
  enum dj_nonce_state state;
  struct dj_vnonce nonce;
  uint64_t age = 0;
  if (w->st->ops->nonce_consume(w->st, a->q.nonce, &state, &nonce, err) < 0)
    return UINT64_MAX;
  int64_t now = dj_vnow_ms(), elapsed;
  age = nonce_age(srv, &nonce, &elapsed);
  if (state == DJ_NONCE_UNKNOWN)
    check(a, "nonce", "nonce-unknown", "this verifier did not issue the nonce (or it was purged)");
  else if (state == DJ_NONCE_USED)
    check(a, "nonce", "nonce-used", "the nonce was used before (a replay)");
  else if (strcmp(nonce.node_id, a->q.node_id) != 0)
    check(a, "nonce", "nonce-other-node", "the nonce was issued to node %s", nonce.node_id);
  else if (now > nonce.expires_ms || elapsed > srv->cfg.nonce_lifetime_ms)
    check(a, "nonce", "nonce-expired", "the nonce was issued %" PRId64 " ms ago, it lives %" PRId64 " ms", elapsed,
          srv->cfg.nonce_lifetime_ms);
  else
    check(a, "nonce", NULL, "issued %" PRId64 " ms ago to this node, now used", elapsed);
  *found = w->st->ops->node_get(w->st, a->q.node_id, &a->node, err);
  if (*found < 0)
    return UINT64_MAX;
  check_node(a, *found);
  char now_placement[4][DJ_VNAME_MAX] = { 0 };
  placement_of(&a->node, now_placement);
  if (*found && a->fail == NULL && (!a->gate || memcmp(now_placement, a->placement, sizeof now_placement) != 0))
    check(a, "node", "node-changed", "node %s was approved, revoked or moved while its evidence was checked: ask again",
          a->q.node_id);
  if (a->quote_ok && *found) {
    struct dj_tpm_counters last = { .reset_count = a->node.reset_count, .restart_count = a->node.restart_count,
                                    .clock = a->node.clock };
    dj_err cerr = { 0 };
    if (dj_counters_check(&a->claims.counters, a->node.has_counters ? &last : NULL, srv->cfg.clock_tolerance_ms,
                          &cerr) < 0)
      check(a, "counters", dj_attest_code_name(cerr.code), "%s", cerr.msg);
    else
      check(a, "counters", NULL, "resetCount %u, restartCount %u, clock %" PRIu64 " ms, safe %s",
            a->claims.counters.reset_count, a->claims.counters.restart_count, a->claims.counters.clock,
            a->claims.counters.safe ? "yes" : "no");
  }
  return age;
}

/* Keep the highest counters seen, so quotes arriving out of order within the tolerance pass. */
static bool counters_advance(struct dj_vnode *n, const struct dj_tpm_counters *c)
{
  bool newer = !n->has_counters || c->reset_count > n->reset_count ||
               (c->reset_count == n->reset_count &&
                (c->restart_count > n->restart_count || (c->restart_count == n->restart_count && c->clock > n->clock)));
  if (newer) {
    n->has_counters = true;
    n->reset_count = c->reset_count;
    n->restart_count = c->restart_count;
    n->clock = c->clock;
  }
  return newer;
}

static json_t *items_json(struct item *items, size_t n, bool layers, bool release)
{
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    struct item *it = &items[i];
    json_t *o = layers ? json_pack("{s:s, s:s}", "digest", it->layer, "key", it->id ? it->id : "")
                       : json_pack("{s:s, s:s}", "id", it->id, "tenant", it->known ? it->key.tenant : "");
    json_object_set_new(o, "decision", json_string(it->allowed && release ? "allow" : "deny"));
    if (!layers && it->decision)
      json_object_set(o, "reasons", json_object_get(it->decision, "reasons"));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* The answer: the audited body's canonical text as recorded, with audit_seq, the released JWEs (in
 * the order of the body's keys and layers) and, for a denial, the error in front. Both pieces are
 * jansson's output; the body is an object whose members are none of the three. */
static char *answer_text(struct attest *a, bool allow, int64_t seq, const char *body)
{
  json_t *head _cleanup_json_ = json_pack("{s:I}", "audit_seq", (json_int_t) seq);
  if (allow) {
    json_t *keys = json_array(), *layers = json_array();
    for (size_t i = 0; i < a->q.n_keys; i++)
      if (a->keys[i].jwe)
        json_array_append_new(keys, json_pack("{s:s, s:s}", "id", a->keys[i].id, "jwe", a->keys[i].jwe));
    for (size_t i = 0; i < a->q.n_layers; i++)
      json_array_append_new(layers, json_pack("{s:s, s:s}", "digest", a->layers[i].layer, "jwe", a->layers[i].jwe));
    json_object_set_new(head, "released", json_pack("{s:o, s:o}", "keys", keys, "layers", layers));
  } else {
    json_object_set_new(head, "error", json_pack("{s:s, s:s}", "code", a->fail ? a->fail : "policy", "message",
                                                 a->fail ? a->fail_msg : "policy denies a key"));
  }
  _cleanup_free_ char *h = json_dumps(head, JSON_COMPACT);
  size_t hl = h ? strlen(h) : 0;
  if (hl < 2 || body[0] != '{' || body[1] == '}')
    return NULL;
  h[hl - 1] = '\0'; /* "{...}" without its closing brace, then "," and the body's members */
  return dj_xasprintf("%s,%s", h, body + 1);
}

static void attest_free(struct attest *a)
{
  for (size_t i = 0; a->keys && i < a->q.n_keys; i++) {
    dj_wipe(&a->keys[i].key.sealed, a->keys[i].key.sealed_len);
    free(a->keys[i].jwe);
    json_decref(a->keys[i].decision);
  }
  for (size_t i = 0; a->layers && i < a->q.n_layers; i++)
    free(a->layers[i].jwe);
  free(a->keys);
  free(a->layers);
  json_decref(a->checks);
  dj_vattest_req_free(&a->q);
  free(a);
}

int dj_api_attest(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  struct attest *a = dj_xcalloc(1, sizeof *a);
  a->r = r;
  a->checks = json_array();
  if (dj_vattest_req_parse(j, &a->q, &err) < 0) {
    attest_free(a);
    return dj_vreq_error(r, 400, "malformed", "%s", err.msg);
  }
  a->keys = dj_xcalloc(a->q.n_keys + 1, sizeof *a->keys);
  a->layers = dj_xcalloc(a->q.n_layers + 1, sizeof *a->layers);
  uint8_t d[32]; /* the request as received: it carries the evidence */
  SHA256((const uint8_t *) r->body, r->body_len, d);
  strcpy(a->evidence_digest, "sha256:");
  dj_vhex(d, 32, a->evidence_digest + 7);

  /* outside the lock, and only past the gate: the evidence, then both policies, and only for keys
   * they all allow the unseals and unwraps (the transaction checks the gate's facts again) */
  if (r->w->st->ops->read_begin(r->w->st, &err) < 0) {
    attest_free(a);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  gate(a);
  lookup_keys(a);
  r->w->st->ops->read_end(r->w->st); /* the transaction reads the node and the nonce again */
  if (a->gate) {
    check_evidence(a);
    workload_claims(a);
    if (a->fail == NULL && decide_keys(a, a->age)) {
      prepare_keys(a);
      prepare_layers(a);
    }
  }
  json_t *pre_checks = a->checks; /* the node and nonce checks come first in the answer */
  a->checks = json_array();
  const char *pre_fail = a->fail;
  char pre_msg[600];
  snprintf(pre_msg, sizeof pre_msg, "%s", a->fail_msg);
  a->fail = NULL;

  struct dj_store *st = r->w->st;
  int found = 0;
  if (st->ops->begin(st, &err) < 0) {
    json_decref(pre_checks);
    attest_free(a);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  uint64_t age = check_in_tx(a, &found, &err);
  if (age == UINT64_MAX) {
    json_decref(pre_checks);
    attest_free(a);
    st->ops->rollback(st);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  json_array_extend(a->checks, pre_checks);
  json_decref(pre_checks);
  if (a->fail == NULL && pre_fail) {
    a->fail = pre_fail;
    snprintf(a->fail_msg, sizeof a->fail_msg, "%s", pre_msg);
  }
  bool allow = a->fail == NULL && a->decided;
  if (allow) {
    if (age != a->age) /* a second boundary passed since the decisions: the age is the tenant's rule */
      decide_keys(a, age);
    for (size_t i = 0; i < a->q.n_keys; i++) {
      const struct item *it = &a->keys[i];
      allow &= it->allowed && (it->jwe || strcmp(it->key.kind, DJ_KEY_KEK) == 0); /* a KEK is never released */
    }
    for (size_t i = 0; i < a->q.n_layers; i++) { /* a layer goes where its KEK's policy allows */
      const struct item *kek = key_item(a, a->layers[i].id);
      a->layers[i].allowed = kek && kek->allowed;
      allow &= a->layers[i].allowed;
    }
    if (!allow)
      check(a, "policy", "policy", "the operator and tenant policies do not allow every key asked for");
    else
      check(a, "policy", NULL, "%zu keys and %zu layers allowed by both policies", a->q.n_keys, a->q.n_layers);
  }
  if (allow && counters_advance(&a->node, &a->claims.counters) && st->ops->node_put(st, &a->node, &err) < 0) {
    attest_free(a);
    st->ops->rollback(st);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  char wd[65], nonce_hex[65];
  dj_vhex(a->q.workload_digest, 32, wd);
  dj_vhex(a->q.nonce, 32, nonce_hex);
  json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:o, s:o}", "decision",
                           allow ? "allow" : "deny", "node", a->q.node_id, "nonce", nonce_hex, "evidence_digest",
                           a->evidence_digest, "workload", wd, "manifest", a->q.manifest, "profile", a->q.profile,
                           "config_digest", a->q.config_digest, "checks", a->checks, "keys",
                           items_json(a->keys, a->q.n_keys, false, allow), "layers",
                           items_json(a->layers, a->q.n_layers, true, allow));
  if (!allow)
    json_object_set_new(body, "reason", json_string(a->fail ? a->fail : "policy"));
  /* the audit record names what was released, never the JWEs */
  int64_t seq = 0;
  _cleanup_free_ char *text = NULL;
  int rc = dj_vaudit_text(r, "attest", body, &seq, &text, &err);
  json_decref(body);
  if (rc == 0)
    rc = st->ops->commit(st, &err);
  if (rc < 0) {
    attest_free(a);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  dj_vmetrics_decision(r->w->srv, allow ? "allow" : "deny", allow ? "released" : a->fail ? a->fail : "policy");
  r->status = allow ? 200 : 403;
  r->reason = allow ? "released" : a->fail;
  r->text = answer_text(a, allow, seq, text);
  r->content_type = "application/json";
  attest_free(a);
  if (r->text == NULL)
    return dj_vreq_error(r, 500, "internal", "the answer of audit record %" PRId64 " does not serialise", seq);
  return allow ? 0 : -1;
}
