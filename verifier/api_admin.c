/* Tenant keys (PUT /v1/keys/{id}: a secret, or the private key its images' recipients were
 * encrypted to, which never leaves the verifier), policies, the audit log for the auditor, health
 * and metrics. A tenant sees and changes only what is its own. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "policy/policy.h"
#include "verifier/audit.h"
#include "verifier/requests.h"
#include "verifier/server.h"

/* Wipe a secret string member of a request before jansson frees it. */
static void wipe_member(json_t *j, const char *key)
{
  json_t *v = json_object_get(j, key);
  if (json_is_string(v))
    dj_wipe((char *) json_string_value(v), json_string_length(v));
}

/* A KEK: RSA of at least 2048 bits, or EC P-256/384/521. DER (for sealing) and the public PEM. */
static int kek_parse(const char *pem, uint8_t *der, size_t *der_len, char *pub, size_t pub_size, dj_err *err)
{
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  ERR_clear_error();
  if (k == NULL)
    return dj_error(err, 0, "private_key: not a PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted)");
  int r = 0;
  bool rsa = EVP_PKEY_is_a(k, "RSA"), ec = EVP_PKEY_is_a(k, "EC");
  if ((!rsa && !ec) || (rsa && EVP_PKEY_get_bits(k) < 2048))
    r = dj_error(err, 0, "private_key: an RSA key of at least 2048 bits or an EC key is needed");
  unsigned char *d = NULL;
  int n = r == 0 ? i2d_PrivateKey(k, &d) : -1;
  if (r == 0 && (n <= 0 || (size_t) n > *der_len))
    r = dj_error(err, 0, "private_key: cannot encode");
  if (r == 0) {
    memcpy(der, d, (size_t) n);
    *der_len = (size_t) n;
    BIO *out = BIO_new(BIO_s_mem());
    char *p = NULL;
    long pl = 0;
    if (out && PEM_write_bio_PUBKEY(out, k) && (pl = BIO_get_mem_data(out, &p)) > 0 && (size_t) pl < pub_size) {
      memcpy(pub, p, (size_t) pl);
      pub[pl] = '\0';
    } else {
      r = dj_error(err, 0, "private_key: cannot write its public key");
    }
    BIO_free(out);
  }
  if (d)
    OPENSSL_clear_free(d, (size_t) n);
  EVP_PKEY_free(k);
  return r;
}

static int key_refuse(struct dj_vreq *r, const char *code, const char *msg)
{
  dj_err err = { 0 };
  struct dj_store *st = r->w->st;
  json_t *body = json_pack("{s:s, s:s, s:s}", "key", r->param, "decision", "deny", "reason", code);
  if (st->ops->begin(st, &err) == 0 && (dj_vaudit(r, "key-put", body, NULL, &err) < 0 || st->ops->commit(st, &err) < 0))
    st->ops->rollback(st);
  json_decref(body);
  return dj_vreq_error(r, 403, code, "%s", msg);
}

int dj_api_key_put(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  struct dj_vkey_req *q = dj_xmalloc(sizeof *q);
  struct dj_vkey *k = dj_xcalloc(1, sizeof *k);
  uint8_t *plain = dj_xmalloc(DJ_VSEALED_MAX);
  size_t plain_len = DJ_VSEALED_MAX - DJ_SEAL_OVERHEAD;
  struct dj_store *st = r->w->st;
  int ret = -1;
  if (dj_vkey_req_parse(j, q, &err) < 0) {
    dj_vreq_error(r, 400, "malformed", "%s", err.msg);
    goto out;
  }
  snprintf(k->id, sizeof k->id, "%s", r->param);
  snprintf(k->tenant, sizeof k->tenant, "%s", r->tenant);
  snprintf(k->kind, sizeof k->kind, "%s", q->kind);
  if (q->private_key) {
    if (kek_parse(q->private_key, plain, &plain_len, k->public_pem, sizeof k->public_pem, &err) < 0) {
      dj_vreq_error(r, 400, "malformed", "%s", err.msg);
      goto out;
    }
  } else {
    memcpy(plain, q->value, q->value_len);
    plain_len = q->value_len;
  }
  char aad[2 * DJ_VNAME_MAX + 16];
  snprintf(aad, sizeof aad, "key:%s:%s:%s", k->tenant, k->id, k->kind);
  if (dj_seal(&r->w->srv->master, aad, plain, plain_len, k->sealed, &k->sealed_len, &err) < 0) {
    dj_vreq_error(r, 500, "seal", "%s", err.msg);
    goto out;
  }
  struct dj_vkey *old = dj_xmalloc(sizeof *old);
  if (st->ops->begin(st, &err) < 0) {
    free(old);
    dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  int found = st->ops->key_get(st, k->id, old, &err);
  bool other = found == 1 && strcmp(old->tenant, k->tenant) != 0;
  dj_wipe(old, sizeof *old);
  free(old);
  if (found < 0 || other) {
    st->ops->rollback(st);
    if (other)
      key_refuse(r, "key-owned-by-another-tenant", "this key id belongs to another tenant");
    else
      dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  k->created_ms = dj_vnow_ms();
  json_t *body = json_pack("{s:s, s:s, s:s, s:b, s:s}", "key", k->id, "tenant", k->tenant, "kind", k->kind,
                           "replaced", found == 1, "decision", "allow");
  int rc = st->ops->key_put(st, k, &err);
  if (rc == 0)
    rc = dj_vaudit(r, "key-put", body, NULL, &err);
  json_decref(body);
  if (rc == 0)
    rc = st->ops->commit(st, &err);
  if (rc < 0) {
    st->ops->rollback(st);
    dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  dj_vpolicies_changed(r->w->srv); /* the workers' copies of key rows */
  r->status = found == 1 ? 200 : 201;
  r->resp = json_pack("{s:s, s:s, s:s}", "id", k->id, "tenant", k->tenant, "kind", k->kind);
  if (k->public_pem[0])
    json_object_set_new(r->resp, "public_key", json_string(k->public_pem));
  ret = 0;
out:
  wipe_member(j, "value");
  wipe_member(j, "private_key");
  dj_wipe(q, sizeof *q);
  dj_wipe(plain, DJ_VSEALED_MAX);
  dj_wipe(k, sizeof *k);
  free(q);
  free(plain);
  free(k);
  return ret;
}

static int key_one(const struct dj_vkey *k, void *ctx)
{
  json_t *o = json_pack("{s:s, s:s, s:I}", "id", k->id, "kind", k->kind, "created_ms", (json_int_t) k->created_ms);
  if (k->public_pem[0])
    json_object_set_new(o, "public_key", json_string(k->public_pem));
  json_array_append_new(ctx, o);
  return 0;
}

int dj_api_key_list(struct dj_vreq *r)
{
  dj_err err = { 0 };
  json_t *arr = json_array();
  if (r->w->st->ops->key_list(r->w->st, r->tenant, key_one, arr, &err) < 0) {
    json_decref(arr);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  r->resp = json_pack("{s:s, s:o}", "tenant", r->tenant, "keys", arr);
  return 0;
}

/* Which stored policy a route names, and whether this caller may touch it. */
static int policy_name(struct dj_vreq *r, char *name, size_t size, bool *tenant_doc)
{
  *tenant_doc = strncmp(r->path, "/v1/policy/tenants/", 19) == 0;
  if (*tenant_doc) {
    if (r->role != DJ_ROLE_TENANT || strcmp(r->param, r->tenant) != 0)
      return dj_vreq_error(r, 403, "other-tenant", "tenant %s cannot touch the policy of tenant %s", r->tenant,
                           r->param);
    snprintf(name, size, "tenant:%s", r->param);
    return 0;
  }
  if (strcmp(r->param, "operator") != 0)
    return dj_vreq_error(r, 404, "not-found", "%s: no such policy", r->path);
  if (r->role != DJ_ROLE_OPERATOR && evhttp_request_get_command(r->req) != EVHTTP_REQ_GET)
    return dj_vreq_error(r, 403, "role", "only the operator sets the operator policy");
  snprintf(name, size, "operator");
  return 0;
}

static json_t *errors_json(struct dj_policy_errors *errs)
{
  json_t *arr = json_array();
  for (size_t i = 0; i < errs->n; i++)
    json_array_append_new(arr, json_string(errs->msgs[i]));
  dj_policy_errors_clear(errs);
  return arr;
}

int dj_api_policy_put(struct dj_vreq *r)
{
  char name[DJ_VNAME_MAX + 16];
  bool tenant_doc;
  if (policy_name(r, name, sizeof name, &tenant_doc) < 0)
    return -1;
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  int kind = dj_policy_kind(j, &err);
  if (kind < 0 || kind != (tenant_doc ? DJ_POLICY_TENANT : DJ_POLICY_OPERATOR))
    return dj_vreq_error(r, 400, "policy-invalid", "%s", kind < 0 ? err.msg : "kind: not the kind of this endpoint");
  struct dj_policy_errors errs = { 0 };
  int bad = 0;
  if (tenant_doc) {
    struct dj_tenant_policy t;
    bad = dj_tenant_policy_parse(j, &t, &errs, &err);
    if (bad == 0) {
      struct dj_vpolicies *pol = dj_vpolicies_get(r->w, &err);
      if (strcmp(t.tenant, r->tenant) != 0)
        bad = dj_error(&err, 0, "tenant: \"%s\" is not the authenticated tenant %s", t.tenant, r->tenant);
      else if (pol == NULL || !pol->have_operator)
        bad = dj_error(&err, 0, "there is no operator policy to narrow yet");
      else if (dj_tenant_policy_within(&pol->op, &t, &errs, &err) < 0)
        bad = -1;
      dj_tenant_policy_free(&t);
    }
  } else {
    struct dj_operator_policy op;
    bad = dj_operator_policy_parse(j, &op, &errs, &err);
    if (bad == 0)
      dj_operator_policy_free(&op);
  }
  if (bad < 0) {
    dj_vreq_error(r, 400, "policy-invalid", "%s", err.msg);
    json_object_set_new(r->resp, "errors", errors_json(&errs));
    return -1;
  }
  _cleanup_free_ char *doc = dj_json_canonical(j);
  uint8_t d[32];
  char digest[72] = "sha256:";
  SHA256((const uint8_t *) doc, strlen(doc), d);
  dj_vhex(d, 32, digest + 7);
  struct dj_store *st = r->w->st;
  json_t *body = json_pack("{s:s, s:s}", "policy", name, "digest", digest);
  int rc = st->ops->begin(st, &err);
  if (rc == 0)
    rc = st->ops->policy_put(st, name, doc, &err);
  if (rc == 0)
    rc = dj_vaudit(r, "policy-set", body, NULL, &err);
  json_decref(body);
  if (rc == 0)
    rc = st->ops->commit(st, &err);
  if (rc < 0) {
    st->ops->rollback(st);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  dj_vpolicies_changed(r->w->srv);
  r->resp = json_pack("{s:s, s:s}", "policy", name, "digest", digest);
  return 0;
}

int dj_api_policy_get(struct dj_vreq *r)
{
  char name[DJ_VNAME_MAX + 16];
  bool tenant_doc;
  if (policy_name(r, name, sizeof name, &tenant_doc) < 0)
    return -1;
  dj_err err = { 0 };
  _cleanup_free_ char *doc = NULL;
  int found = r->w->st->ops->policy_get(r->w->st, name, &doc, &err);
  if (found < 0)
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  if (!found)
    return dj_vreq_error(r, 404, "not-found", "no %s policy is set", name);
  json_error_t je;
  r->resp = json_loads(doc, 0, &je);
  return r->resp ? 0 : dj_vreq_error(r, 500, "store", "stored policy does not parse");
}

static int64_t query_int(const char *query, const char *key, int64_t dflt, int64_t min, int64_t max)
{
  struct evkeyvalq q;
  int64_t v = dflt;
  if (evhttp_parse_query_str(query, &q) == 0) {
    const char *s = evhttp_find_header(&q, key);
    if (s && (dj_parse_i64(s, &v) < 0 || v < min || v > max))
      v = min - 1;
    evhttp_clear_headers(&q);
  }
  return v;
}

static int audit_one(const struct dj_vaudit *a, void *ctx)
{
  char h[65];
  dj_vhex(a->hash, 32, h);
  json_array_append_new(ctx, json_pack("{s:I, s:s, s:s}", "seq", (json_int_t) a->seq, "record", a->record, "hash", h));
  return 0;
}

int dj_api_audit_list(struct dj_vreq *r)
{
  int64_t from = query_int(r->query, "from", 1, 1, INT64_MAX), limit = query_int(r->query, "limit", 1000, 1, 10000);
  if (from < 1 || limit < 1)
    return dj_vreq_error(r, 400, "malformed", "from: an integer >= 1; limit: 1 to 10000");
  dj_err err = { 0 };
  json_t *arr = json_array();
  int64_t head = 0;
  uint8_t hh[32];
  if (r->w->st->ops->audit_head(r->w->st, &head, hh, &err) < 0 ||
      r->w->st->ops->audit_list(r->w->st, from, limit, audit_one, arr, &err) < 0) {
    json_decref(arr);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  r->resp = json_pack("{s:o, s:I}", "records", arr, "head", (json_int_t) head);
  return 0;
}

static int cp_one(const struct dj_vcheckpoint *c, void *ctx)
{
  char h[65];
  dj_vhex(c->hash, 32, h);
  _cleanup_free_ char *sig = dj_b64url_encode(c->sig, sizeof c->sig);
  json_array_append_new(ctx, json_pack("{s:I, s:I, s:s, s:s}", "seq", (json_int_t) c->seq, "time_ms",
                                       (json_int_t) c->time_ms, "hash", h, "signature", sig));
  return 0;
}

int dj_api_audit_checkpoints(struct dj_vreq *r)
{
  dj_err err = { 0 };
  json_t *arr = json_array();
  if (r->w->st->ops->checkpoint_list(r->w->st, cp_one, arr, &err) < 0) {
    json_decref(arr);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  _cleanup_free_ char *pem = dj_audit_key_public_pem(r->w->srv->audit_key);
  r->resp = json_pack("{s:o, s:s}", "checkpoints", arr, "public_key", pem ? pem : "");
  return 0;
}

int dj_api_healthz(struct dj_vreq *r)
{
  dj_err err = { 0 };
  int64_t head = 0;
  uint8_t h[32];
  if (r->w->st->ops->audit_head(r->w->st, &head, h, &err) < 0)
    return dj_vreq_error(r, 503, "store", "%s", err.msg);
  r->resp = json_pack("{s:s, s:I}", "status", "ok", "audit_head", (json_int_t) head);
  return 0;
}

int dj_api_metrics(struct dj_vreq *r)
{
  r->text = dj_vmetrics_text(r->w->srv);
  r->content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r->text ? 0 : dj_vreq_error(r, 500, "metrics", "out of memory");
}
