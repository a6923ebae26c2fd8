/* Enrolment (POST /v1/nodes, activation), approval by an operator or by the inventory, AK
 * rotation, revocation, and the node list. A node's identity is its EK (the SHA-256 of the EK's
 * SubjectPublicKeyInfo), never the name it gives: a known EK with another AK is a rotation the
 * operator approves (the Keylime CVE-2025-13609 class was an agent id re-registered with another TPM). */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/enroll.h"
#include "attest/makecred.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "verifier/requests.h"
#include "verifier/server.h"

json_t *dj_vnode_json(const struct dj_vnode *n)
{
  char ak_name[2 * sizeof(TPMU_NAME) + 8] = "";
  TPM2B_PUBLIC ak;
  TPM2B_NAME name;
  dj_err err = { 0 };
  if (n->ak_public_len && dj_tpm_unmarshal_public(n->ak_public, n->ak_public_len, &ak, &err) == 0 &&
      dj_tpm_public_name(&ak.publicArea, &name, &err) == 0)
    dj_vhex(name.name, name.size, ak_name);
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:I}", "node_id", n->id, "name", n->name,
                        "status", n->status, "site", n->site, "jurisdiction", n->jurisdiction, "hardware_class",
                        n->hw_class, "in_inventory", n->in_inventory, "rotation_pending", n->new_ak_activated,
                        "ak_name", ak_name, "created_ms", (json_int_t) n->created_ms, "updated_ms",
                        (json_int_t) n->updated_ms);
  json_object_set_new(j, "ek", json_pack("{s:b, s:s, s:s, s:s, s:s}", "certificate", n->ek_cert_len > 0,
                                         "manufacturer", n->ek_manufacturer, "model", n->ek_model, "version",
                                         n->ek_version, "key_type", n->ek_key_type));
  if (n->has_counters)
    json_object_set_new(j, "counters", json_pack("{s:I, s:I, s:I}", "reset_count", (json_int_t) n->reset_count,
                                                 "restart_count", (json_int_t) n->restart_count, "clock",
                                                 (json_int_t) n->clock));
  if (n->reason[0])
    json_object_set_new(j, "revoked_because", json_string(n->reason));
  return j;
}

static int store_fail(struct dj_vreq *r, const dj_err *err)
{
  r->w->st->ops->rollback(r->w->st);
  return dj_vreq_error(r, 500, "store", "%s", err->msg);
}

/* Record a refused enrolment step (its own transaction) and answer 403 with the check's name. */
static int refuse(struct dj_vreq *r, const char *type, const char *node_id, const char *code, const char *msg)
{
  dj_err err = { 0 };
  struct dj_store *st = r->w->st;
  if (!st->ops->begin(st, &err)) {
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "node", node_id, "decision", "deny", "reason", code, "detail", msg);
    int ok = dj_vaudit(r, type, body, NULL, &err) == 0 && st->ops->commit(st, &err) == 0;
    json_decref(body);
    if (!ok)
      return store_fail(r, &err);
  }
  dj_vmetrics_decision(r->w->srv, "deny", code);
  return dj_vreq_error(r, 403, code, "%s", msg);
}

/* The audit record of a request and the commit of its transaction (rc: the request's writes so
 * far); body is consumed. */
static int audit_commit(struct dj_vreq *r, int rc, const char *type, json_t *body, dj_err *err)
{
  if (rc == 0)
    rc = dj_vaudit(r, type, body, NULL, err);
  json_decref(body);
  if (rc == 0)
    rc = r->w->st->ops->commit(r->w->st, err);
  return rc;
}

static bool same_public(const uint8_t *a, size_t alen, const TPM2B_PUBLIC *pub)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t n = 0;
  dj_err err = { 0 };
  return dj_tpm_marshal_public(pub, buf, &n, &err) == 0 && n == alen && memcmp(a, buf, n) == 0;
}

static void copy(char *dst, size_t size, const char *src)
{
  snprintf(dst, size, "%s", src);
}

int dj_api_enroll(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  struct dj_venroll_req *q = dj_xmalloc(sizeof *q);
  struct dj_vnode *n = dj_xcalloc(1, sizeof *n);
  struct dj_enroll_challenge ch = { 0 };
  char id[65] = "";
  _cleanup_free_ char *b64blob = NULL, *b64seed = NULL; /* before the first goto (clang) */
  int ret = -1;
  if (!dj_vrate_allow(r->w->srv, "addr", r->peer, r->w->srv->cfg.addr_rate, r->w->srv->cfg.addr_burst)) {
    dj_vreq_error(r, 429, "rate-limited", "too many requests from %s", r->peer); /* EK paths cost */
    goto out;
  }
  if (dj_vreq_json(r, &j) < 0)
    goto out;
  if (dj_venroll_req_parse(j, q, &err) < 0) {
    dj_vreq_error(r, 400, "malformed", "%s", err.msg);
    goto out;
  }
  if (dj_vnode_id(&q->ek.publicArea, id, &err) < 0) {
    dj_vreq_error(r, 400, "ek-public", "ek_public: %s", err.msg);
    goto out;
  }
  struct dj_vpolicies *pol = dj_vpolicies_get(r->w, &err);
  if (pol == NULL) {
    dj_vreq_error(r, 500, "policy", "%s", err.msg);
    goto out;
  }
  if (!pol->have_operator || !pol->trust_ok) {
    dj_vreq_error(r, 503, "no-operator-policy", "enrolment needs an operator policy with usable EK roots%s%s",
                  pol->trust_error[0] ? ": " : "", pol->trust_error);
    goto out;
  }
  struct dj_enroll_request er = { .ek_cert = q->ek_cert_len ? q->ek_cert : NULL, .ek_cert_len = q->ek_cert_len,
                                  .ek = q->ek, .ak = q->ak };
  struct dj_enroll_claims claims;
  if (dj_enroll_check(&er, &pol->trust, NULL, 0, &claims, &ch, &err) < 0) {
    refuse(r, "enroll", id, dj_attest_code_name(err.code), err.msg);
    goto out;
  }
  struct dj_store *st = r->w->st;
  struct dj_vinventory inv;
  int in_inv = st->ops->inventory_get(st, id, &inv, &err);
  if (in_inv < 0) {
    dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  if (!claims.ek_cert_present && !in_inv) {
    refuse(r, "enroll", id, "ek-no-cert",
           "the TPM has no EK certificate and its EK is not in the operator's inventory");
    goto out;
  }
  if (st->ops->begin(st, &err) < 0) {
    dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  int found = st->ops->node_get(st, id, n, &err);
  if (found < 0) {
    store_fail(r, &err);
    goto out;
  }
  if (found && strcmp(n->status, DJ_NODE_REVOKED) == 0) {
    st->ops->rollback(st);
    refuse(r, "enroll", id, "node-revoked", "this EK belongs to a revoked node");
    goto out;
  }
  bool same_ak = found && n->ak_public_len && same_public(n->ak_public, n->ak_public_len, &q->ak);
  const char *kind = !found ? "new" : strcmp(n->status, DJ_NODE_ACTIVATING) == 0 ? "retry" : "rotation";
  json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "node", id, "name", q->name, "kind", same_ak ? "unchanged" : kind,
                           "ek_manufacturer", claims.ek.manufacturer, "ek_key_type", claims.ek.key_type);
  if (same_ak) { /* running enrolment again is harmless */
    json_object_set_new(body, "decision", json_string("allow"));
    int ok = dj_vaudit(r, "enroll", body, NULL, &err) == 0 && st->ops->commit(st, &err) == 0;
    json_decref(body);
    if (!ok) {
      store_fail(r, &err);
      goto out;
    }
    r->resp = json_pack("{s:s, s:s, s:b, s:O}", "node_id", id, "status", n->status, "rotation", false, "node",
                        json_null());
    json_object_set_new(r->resp, "node", dj_vnode_json(n));
    ret = 0;
    goto out;
  }
  int64_t now = dj_vnow_ms();
  if (!found) {
    copy(n->id, sizeof n->id, id);
    copy(n->status, sizeof n->status, DJ_NODE_ACTIVATING);
    n->created_ms = now;
    dj_tpm_marshal_public(&q->ek, n->ek_public, &n->ek_public_len, &err);
    memcpy(n->ek_cert, q->ek_cert, q->ek_cert_len);
    n->ek_cert_len = q->ek_cert_len;
    copy(n->ek_manufacturer, sizeof n->ek_manufacturer, claims.ek.manufacturer);
    copy(n->ek_model, sizeof n->ek_model, claims.ek.model);
    copy(n->ek_version, sizeof n->ek_version, claims.ek.version);
    copy(n->ek_key_type, sizeof n->ek_key_type, claims.ek_cert_present ? claims.ek.key_type : "no certificate");
  }
  copy(n->name, sizeof n->name, q->name);
  n->updated_ms = now;
  struct dj_venroll e = { .expires_ms = now + r->w->srv->cfg.enroll_lifetime_ms };
  uint8_t rnd[16];
  RAND_bytes(rnd, sizeof rnd);
  dj_vhex(rnd, sizeof rnd, e.id);
  copy(e.node_id, sizeof e.node_id, id);
  dj_tpm_marshal_public(&q->ak, e.ak_public, &e.ak_public_len, &err);
  char aad[128];
  snprintf(aad, sizeof aad, "enroll:%s:%s", e.id, id);
  uint8_t blob[DJ_TPM_STRUCT_MAX], seed[DJ_TPM_STRUCT_MAX];
  size_t blob_len = 0, seed_len = 0;
  int r2 = dj_seal(&r->w->srv->master, aad, ch.secret, sizeof ch.secret, e.sealed_secret, &e.sealed_secret_len, &err);
  if (r2 == 0 && (Tss2_MU_TPM2B_ID_OBJECT_Marshal(&ch.blob, blob, sizeof blob, &blob_len) != 0 ||
                  Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&ch.seed, seed, sizeof seed, &seed_len) != 0))
    r2 = dj_error(&err, 0, "cannot marshal the credential");
  if (r2 == 0)
    r2 = st->ops->node_put(st, n, &err);
  if (r2 == 0)
    r2 = st->ops->enroll_put(st, &e, &err);
  json_object_set_new(body, "decision", json_string("challenge"));
  if (audit_commit(r, r2, "enroll", body, &err) < 0) {
    store_fail(r, &err);
    goto out;
  }
  b64blob = dj_b64url_encode(blob, blob_len);
  b64seed = dj_b64url_encode(seed, seed_len);
  r->status = 201;
  r->resp = json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:s, s:I}}", "node_id", id, "status", n->status, "rotation",
                      strcmp(kind, "rotation") == 0, "challenge", "id", e.id, "credential_blob", b64blob,
                      "encrypted_secret", b64seed, "expires_in_ms", (json_int_t) r->w->srv->cfg.enroll_lifetime_ms);
  ret = 0;
out:
  dj_wipe(&ch, sizeof ch);
  free(q);
  free(n);
  return ret;
}

/* The node of the route, inside an open transaction: 1 found, 0 answered 404, -1 answered. */
static int route_node(struct dj_vreq *r, struct dj_vnode *n)
{
  dj_err err = { 0 };
  int found = r->w->st->ops->node_get(r->w->st, r->param, n, &err);
  if (found < 0)
    return store_fail(r, &err);
  if (!found) {
    r->w->st->ops->rollback(r->w->st);
    dj_vreq_error(r, 404, "node-unknown", "node %s is not enrolled", r->param);
  }
  return found;
}

/* An inventory entry approves a node: its placement comes from the operator's records. */
static void approve_from(struct dj_vnode *n, const struct dj_vinventory *inv)
{
  copy(n->status, sizeof n->status, DJ_NODE_APPROVED);
  copy(n->site, sizeof n->site, inv->site);
  copy(n->jurisdiction, sizeof n->jurisdiction, inv->jurisdiction);
  copy(n->hw_class, sizeof n->hw_class, inv->hw_class);
  n->in_inventory = true;
}

int dj_api_activate(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  struct dj_vactivate_req q;
  struct dj_venroll e;
  uint8_t secret[64];
  size_t secret_len = 0;
  struct dj_vnode *n = dj_xcalloc(1, sizeof *n);
  struct dj_store *st = r->w->st;
  int ret = -1;
  if (!dj_vrate_allow(r->w->srv, "addr", r->peer, r->w->srv->cfg.addr_rate, r->w->srv->cfg.addr_burst)) {
    dj_vreq_error(r, 429, "rate-limited", "too many requests from %s", r->peer);
    goto out;
  }
  if (dj_vreq_json(r, &j) < 0)
    goto out;
  if (dj_vactivate_req_parse(j, &q, &err) < 0) {
    dj_vreq_error(r, 400, "malformed", "%s", err.msg);
    goto out;
  }
  if (st->ops->begin(st, &err) < 0) {
    dj_vreq_error(r, 500, "store", "%s", err.msg);
    goto out;
  }
  int found = st->ops->enroll_take(st, q.challenge_id, &e, &err); /* single use: taken whatever follows */
  const char *code = NULL;
  char aad[128];
  snprintf(aad, sizeof aad, "enroll:%s:%s", q.challenge_id, r->param);
  if (found < 0) {
    store_fail(r, &err);
    goto out;
  }
  if (!found)
    code = "challenge-unknown";
  else if (strcmp(e.node_id, r->param) != 0)
    code = "challenge-other-node";
  else if (e.expires_ms < dj_vnow_ms())
    code = "challenge-expired";
  else if (dj_unseal(&r->w->srv->master, aad, e.sealed_secret, e.sealed_secret_len, secret, &secret_len, &err) < 0) {
    store_fail(r, &err);
    goto out;
  } else if (dj_credential_check(secret, secret_len, q.secret, q.secret_len, &err) < 0)
    code = "credential";
  found = code ? 1 : route_node(r, n);
  if (found <= 0)
    goto out;
  if (!code && strcmp(n->status, DJ_NODE_REVOKED) == 0)
    code = "node-revoked";
  json_t *body = json_pack("{s:s, s:s}", "node", r->param, "decision", code ? "deny" : "allow");
  if (code) {
    json_object_set_new(body, "reason", json_string(code));
  } else if (strcmp(n->status, DJ_NODE_ACTIVATING) == 0) {
    memcpy(n->ak_public, e.ak_public, e.ak_public_len);
    n->ak_public_len = e.ak_public_len;
    struct dj_vinventory inv;
    int in_inv = st->ops->inventory_get(st, n->id, &inv, &err);
    if (in_inv < 0) {
      json_decref(body);
      store_fail(r, &err);
      goto out;
    }
    if (in_inv)
      approve_from(n, &inv);
    else
      copy(n->status, sizeof n->status, DJ_NODE_PENDING);
    json_object_set_new(body, "status", json_string(n->status));
    json_object_set_new(body, "approved_by", json_string(in_inv ? "inventory" : "nobody yet"));
  } else { /* a new AK for a known EK: waits for the operator */
    memcpy(n->new_ak, e.ak_public, e.ak_public_len);
    n->new_ak_len = e.ak_public_len;
    n->new_ak_activated = true;
    json_object_set_new(body, "rotation", json_string("pending operator approval"));
  }
  n->updated_ms = dj_vnow_ms();
  if (audit_commit(r, code ? 0 : st->ops->node_put(st, n, &err), "activate", body, &err) < 0) {
    store_fail(r, &err);
    goto out;
  }
  dj_vmetrics_decision(r->w->srv, code ? "deny" : "allow", code ? code : "activated");
  if (code) {
    dj_vreq_error(r, 403, code, "activation refused: %s", code);
    goto out;
  }
  r->resp = json_pack("{s:s, s:s, s:b, s:o}", "node_id", n->id, "status", n->status, "rotation", n->new_ak_activated,
                      "node", dj_vnode_json(n));
  ret = 0;
out:
  dj_wipe(secret, sizeof secret);
  dj_wipe(&q, sizeof q);
  free(n);
  return ret;
}

bool dj_vnode_in_inventory(struct dj_store *st, const struct dj_vnode *n)
{
  struct dj_vinventory inv;
  dj_err err = { 0 };
  return strcmp(n->status, DJ_NODE_APPROVED) == 0 && st->ops->inventory_get(st, n->id, &inv, &err) == 1 &&
         strcmp(inv.site, n->site) == 0 && strcmp(inv.jurisdiction, n->jurisdiction) == 0 &&
         strcmp(inv.hw_class, n->hw_class) == 0;
}

/* A node as the operator sees it, with in_inventory as attestation takes it. */
static json_t *node_json(struct dj_store *st, const struct dj_vnode *n)
{
  struct dj_vnode *c = dj_xmalloc(sizeof *c);
  memcpy(c, n, sizeof *c);
  c->in_inventory = dj_vnode_in_inventory(st, n);
  json_t *j = dj_vnode_json(c);
  free(c);
  return j;
}

struct list_ctx {
  struct dj_store *st;
  json_t *arr;
};

static int list_one(const struct dj_vnode *n, void *ctx)
{
  struct list_ctx *l = ctx;
  json_array_append_new(l->arr, node_json(l->st, n));
  return 0;
}

int dj_api_node_list(struct dj_vreq *r)
{
  dj_err err = { 0 };
  json_t *arr = json_array();
  struct list_ctx l = { r->w->st, arr };
  if (r->w->st->ops->node_list(r->w->st, list_one, &l, &err) < 0) {
    json_decref(arr);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  r->resp = json_pack("{s:o}", "nodes", arr);
  return 0;
}

int dj_api_node_get(struct dj_vreq *r)
{
  struct dj_vnode *n = dj_xmalloc(sizeof *n);
  dj_err err = { 0 };
  int found = r->w->st->ops->node_get(r->w->st, r->param, n, &err);
  if (found > 0)
    r->resp = node_json(r->w->st, n);
  else if (found == 0)
    dj_vreq_error(r, 404, "node-unknown", "node %s is not enrolled", r->param);
  else
    dj_vreq_error(r, 500, "store", "%s", err.msg);
  free(n);
  return found > 0 ? 0 : -1;
}

/* The placement must exist in the operator policy: a site of that jurisdiction, a known class
 * (approval by an operator and by the inventory alike). */
static const char *placement_error(struct dj_vreq *r, const char *site_name, const char *jurisdiction,
                                   const char *hw_class)
{
  dj_err err = { 0 };
  struct dj_vpolicies *pol = dj_vpolicies_get(r->w, &err);
  if (pol == NULL || !pol->have_operator)
    return "there is no operator policy to approve a placement against";
  const struct dj_operator_policy *op = &pol->op;
  bool site = false, cls = false;
  for (size_t i = 0; i < op->n_sites; i++)
    site |= strcmp(op->sites[i].name, site_name) == 0 && strcmp(op->sites[i].jurisdiction, jurisdiction) == 0;
  for (size_t i = 0; i < op->n_classes; i++)
    cls |= strcmp(op->classes[i].name, hw_class) == 0;
  return !site ? "the site is not an operator site of that jurisdiction"
               : !cls ? "the hardware class is not in the operator policy" : NULL;
}

static int node_update(struct dj_vreq *r, struct dj_vnode *n, const char *type, json_t *body)
{
  dj_err err = { 0 };
  n->updated_ms = dj_vnow_ms();
  if (audit_commit(r, r->w->st->ops->node_put(r->w->st, n, &err), type, body, &err) < 0)
    return store_fail(r, &err);
  r->resp = node_json(r->w->st, n);
  return 0;
}

int dj_api_node_approve(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  struct dj_vapprove_req q;
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  if (dj_vapprove_req_parse(j, &q, &err) < 0)
    return dj_vreq_error(r, 400, "malformed", "%s", err.msg);
  const char *bad = q.rotation ? NULL : placement_error(r, q.site, q.jurisdiction, q.hw_class);
  if (bad)
    return dj_vreq_error(r, 400, "placement", "%s", bad);
  _cleanup_free_ struct dj_vnode *n = dj_xmalloc(sizeof *n);
  if (r->w->st->ops->begin(r->w->st, &err) < 0)
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  if (route_node(r, n) <= 0)
    return -1;
  if (q.rotation) {
    if (!n->new_ak_activated) {
      r->w->st->ops->rollback(r->w->st);
      return dj_vreq_error(r, 409, "no-rotation", "node %s has no activated new AK to approve", n->id);
    }
    memcpy(n->ak_public, n->new_ak, n->new_ak_len);
    n->ak_public_len = n->new_ak_len;
    n->new_ak_len = 0;
    n->new_ak_activated = false;
    n->has_counters = false; /* a new AK after a TPM clear: its counters start again */
    return node_update(r, n, "rotate", json_pack("{s:s, s:s}", "node", n->id, "decision", "allow"));
  }
  if (strcmp(n->status, DJ_NODE_PENDING) != 0 && strcmp(n->status, DJ_NODE_APPROVED) != 0) {
    r->w->st->ops->rollback(r->w->st);
    return dj_vreq_error(r, 409, "node-status", "node %s is %s: only a pending or approved node can be approved", n->id,
                         n->status);
  }
  struct dj_vinventory inv = { 0 };
  copy(inv.site, sizeof inv.site, q.site);
  copy(inv.jurisdiction, sizeof inv.jurisdiction, q.jurisdiction);
  copy(inv.hw_class, sizeof inv.hw_class, q.hw_class);
  bool was = n->in_inventory;
  approve_from(n, &inv);
  n->in_inventory = was;
  return node_update(r, n, "approve",
                     json_pack("{s:s, s:s, s:s, s:s, s:s}", "node", n->id, "by", "operator", "site", n->site,
                               "jurisdiction", n->jurisdiction, "hardware_class", n->hw_class));
}

int dj_api_node_revoke(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  const char *reason;
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  if (dj_vrevoke_req_parse(j, &reason, &err) < 0)
    return dj_vreq_error(r, 400, "malformed", "%s", err.msg);
  _cleanup_free_ struct dj_vnode *n = dj_xmalloc(sizeof *n);
  if (r->w->st->ops->begin(r->w->st, &err) < 0)
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  if (route_node(r, n) <= 0)
    return -1;
  copy(n->status, sizeof n->status, DJ_NODE_REVOKED);
  copy(n->reason, sizeof n->reason, reason);
  return node_update(r, n, "revoke", json_pack("{s:s, s:s}", "node", n->id, "reason", reason));
}

int dj_api_inventory(struct dj_vreq *r)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  _cleanup_free_ struct dj_vinventory *v = NULL;
  size_t count = 0;
  if (dj_vreq_json(r, &j) < 0)
    return -1;
  if (dj_vinventory_req_parse(j, &v, &count, &err) < 0)
    return dj_vreq_error(r, 400, "malformed", "%s", err.msg);
  for (size_t i = 0; i < count; i++) { /* all or nothing, as an operator's approval */
    const char *bad = placement_error(r, v[i].site, v[i].jurisdiction, v[i].hw_class);
    if (bad)
      return dj_vreq_error(r, 400, "placement", "entries[%zu] (%s, %s, %s): %s", i, v[i].site, v[i].jurisdiction,
                           v[i].hw_class, bad);
  }
  struct dj_store *st = r->w->st;
  _cleanup_free_ struct dj_vnode *n = dj_xmalloc(sizeof *n);
  json_t *approved = json_array();
  if (st->ops->begin(st, &err) < 0) {
    json_decref(approved);
    return dj_vreq_error(r, 500, "store", "%s", err.msg);
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < count; i++) {
    rc = st->ops->inventory_put(st, &v[i], &err);
    int found = rc == 0 ? st->ops->node_get(st, v[i].ek_digest, n, &err) : -1;
    if (found < 0)
      rc = -1;
    else if (found && strcmp(n->status, DJ_NODE_PENDING) == 0) { /* waiting nodes of this EK are now known */
      approve_from(n, &v[i]);
      n->updated_ms = dj_vnow_ms();
      json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "node", n->id, "by", "inventory", "site", n->site,
                               "jurisdiction", n->jurisdiction, "hardware_class", n->hw_class);
      rc = st->ops->node_put(st, n, &err) == 0 && dj_vaudit(r, "approve", body, NULL, &err) == 0 ? 0 : -1;
      json_decref(body);
      json_array_append_new(approved, json_string(n->id));
    }
  }
  json_t *body = json_pack("{s:I, s:O}", "entries", (json_int_t) count, "approved", approved);
  if (audit_commit(r, rc, "inventory", body, &err) < 0) {
    json_decref(approved);
    return store_fail(r, &err);
  }
  r->resp = json_pack("{s:I, s:o}", "imported", (json_int_t) count, "approved", approved);
  return 0;
}
