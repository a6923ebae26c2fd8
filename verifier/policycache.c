/* Each worker keeps the parsed policies (and the EK trust store built from the operator policy's
 * roots) and the key rows it read, and rebuilds them when a policy or key write bumps the server's
 * generation. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "verifier/server.h"

void dj_vpolicies_free(struct dj_vpolicies *p)
{
  if (p->have_operator)
    dj_operator_policy_free(&p->op);
  if (p->trust.roots || p->trust.intermediates)
    dj_ek_trust_free(&p->trust);
  for (size_t i = 0; i < p->n_tenants; i++) {
    if (p->tenants[i].present)
      dj_tenant_policy_free(&p->tenants[i].t);
    free(p->tenants[i].tenant);
  }
  free(p->tenants);
  for (size_t i = 0; i < p->n_keys; i++) {
    if (p->keys[i].key)
      dj_wipe(p->keys[i].key, sizeof *p->keys[i].key);
    free(p->keys[i].key);
  }
  free(p->keys);
  memset(p, 0, sizeof *p);
}

void dj_vpolicies_changed(struct dj_vserver *srv)
{
  atomic_fetch_add(&srv->policy_generation, 1);
}

/* Add every certificate of an inline PEM or a PEM file. */
static int add_certs(const char *src, X509_STORE *store, STACK_OF(X509) *stack, dj_err *err)
{
  BIO *bio = strncmp(src, "-----BEGIN", 10) == 0 ? BIO_new_mem_buf(src, -1) : BIO_new_file(src, "r");
  if (bio == NULL)
    return dj_error(err, 0, "%s: cannot open", src);
  size_t n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (store) {
      X509_STORE_add_cert(store, x);
      X509_free(x);
    } else {
      sk_X509_push(stack, x);
    }
    n++;
  }
  BIO_free(bio);
  ERR_clear_error();
  return n ? 0 : dj_error(err, 0, "%.60s: no PEM certificate", src);
}

static void build_trust(struct dj_vpolicies *p)
{
  dj_err err = { 0 };
  p->trust.roots = X509_STORE_new();
  p->trust.intermediates = sk_X509_new_null();
  p->trust_ok = p->trust.roots && p->trust.intermediates;
  for (size_t i = 0; p->trust_ok && i < p->op.n_ek_roots; i++)
    p->trust_ok = add_certs(p->op.ek_roots[i], p->trust.roots, NULL, &err) == 0;
  for (size_t i = 0; p->trust_ok && i < p->op.n_ek_intermediates; i++)
    p->trust_ok = add_certs(p->op.ek_intermediates[i], NULL, p->trust.intermediates, &err) == 0;
  snprintf(p->trust_error, sizeof p->trust_error, "%s", p->trust_ok ? "" : err.msg);
}

struct dj_vpolicies *dj_vpolicies_get(struct dj_vworker *w, dj_err *err)
{
  unsigned gen = atomic_load(&w->srv->policy_generation);
  struct dj_vpolicies *p = &w->pol;
  if (p->generation == gen)
    return p;
  dj_vpolicies_free(p);
  _cleanup_free_ char *doc = NULL;
  int r = w->st->ops->policy_get(w->st, "operator", &doc, err);
  if (r < 0)
    return NULL;
  if (r == 1) {
    json_t *j _cleanup_json_ = NULL;
    if (dj_json_load_buf(doc, strlen(doc), &j, err) < 0 || dj_operator_policy_parse(j, &p->op, NULL, err) < 0)
      return dj_err_wrap(err, "stored operator policy"), NULL;
    p->have_operator = true;
    build_trust(p);
  }
  p->generation = gen;
  return p;
}

const struct dj_tenant_policy *dj_vpolicies_tenant(struct dj_vworker *w, const char *tenant, dj_err *err)
{
  struct dj_vpolicies *p = dj_vpolicies_get(w, err);
  if (p == NULL)
    return NULL;
  for (size_t i = 0; i < p->n_tenants; i++)
    if (strcmp(p->tenants[i].tenant, tenant) == 0)
      return p->tenants[i].present ? &p->tenants[i].t : NULL;
  p->tenants = dj_xrealloc(p->tenants, (p->n_tenants + 1) * sizeof *p->tenants);
  struct tenant_entry *e = &p->tenants[p->n_tenants];
  memset(e, 0, sizeof *e);
  char name[DJ_VNAME_MAX + 16];
  snprintf(name, sizeof name, "tenant:%s", tenant);
  _cleanup_free_ char *doc = NULL;
  int r = w->st->ops->policy_get(w->st, name, &doc, err);
  if (r < 0)
    return NULL;
  if (r == 1) {
    json_t *j _cleanup_json_ = NULL;
    if (dj_json_load_buf(doc, strlen(doc), &j, err) < 0 || dj_tenant_policy_parse(j, &e->t, NULL, err) < 0)
      return dj_err_wrap(err, "stored policy of tenant %s", tenant), NULL;
    e->present = true;
  }
  e->tenant = dj_xstrdup(tenant);
  p->n_tenants++;
  return e->present ? &e->t : NULL;
}

#define KEYS_KEPT 1024 /* beyond, ids are read from the store each time (unknown ids cannot fill memory) */

int dj_vpolicies_key(struct dj_vworker *w, const char *id, struct dj_vkey *out, dj_err *err)
{
  struct dj_vpolicies *p = dj_vpolicies_get(w, err);
  if (p == NULL)
    return -1;
  for (size_t i = 0; i < p->n_keys; i++)
    if (strcmp(p->keys[i].id, id) == 0) {
      if (p->keys[i].key)
        *out = *p->keys[i].key;
      return p->keys[i].key != NULL;
    }
  int found = w->st->ops->key_get(w->st, id, out, err);
  if (found < 0 || p->n_keys == KEYS_KEPT)
    return found;
  if (p->n_keys % 16 == 0)
    p->keys = dj_xrealloc(p->keys, (p->n_keys + 16) * sizeof *p->keys);
  struct key_entry *e = &p->keys[p->n_keys++];
  snprintf(e->id, sizeof e->id, "%s", id);
  e->key = NULL;
  if (found) {
    e->key = dj_xmalloc(sizeof *e->key);
    *e->key = *out;
  }
  return found;
}
