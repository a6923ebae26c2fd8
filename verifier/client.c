#include "verifier/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/codes.h"
#include "attest/evidence.h"
#include "attest/mlog.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"
#include "verifier/requests.h"

#define ANSWER_MAX (64u << 20)

struct dj_vclient {
  CURL *curl;
  char *url;
  struct curl_slist *headers;
  int (*cancel)(void *ctx);
  void *cancel_ctx;
};

struct buf {
  char *p;
  size_t n, cap;
  bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
  struct buf *b = ctx;
  size_t n = size * nmemb;
  if (b->n + n + 1 > ANSWER_MAX) {
    b->too_big = true;
    return 0;
  }
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = dj_xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = '\0';
  return n;
}

/* libcurl calls it while a request waits, at least once a second: a cancelled request ends now. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
  const struct dj_vclient *c = ctx;
  return c->cancel(c->cancel_ctx) ? 1 : 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dj_vclient_open(const struct dj_vclient_opts *o, struct dj_vclient **out, dj_err *err)
{
  if (o->url == NULL || strncmp(o->url, "https://", 8) != 0)
    return dj_error(err, 0, "verifier URL \"%s\": must be https://HOST:PORT", o->url ? o->url : "");
  pthread_once(&curl_once, curl_init);
  struct dj_vclient *c = dj_xcalloc(1, sizeof *c);
  c->curl = curl_easy_init();
  if (c->curl == NULL) {
    free(c);
    return dj_error(err, 0, "libcurl: cannot make a handle");
  }
  size_t len = strlen(o->url);
  while (len > 8 && o->url[len - 1] == '/')
    len--;
  c->url = dj_xasprintf("%.*s", (int) len, o->url);
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  c->headers = curl_slist_append(c->headers, "Expect:");
  CURL *h = c->curl;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  if (o->ca)
    curl_easy_setopt(h, CURLOPT_CAINFO, o->ca);
  if (o->cert)
    curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
  if (o->key)
    curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
  if (o->cancel) {
    c->cancel = o->cancel;
    c->cancel_ctx = o->cancel_ctx;
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
  }
  *out = c;
  return 0;
}

void dj_vclient_close(struct dj_vclient *c)
{
  if (c == NULL)
    return;
  curl_easy_cleanup(c->curl);
  curl_slist_free_all(c->headers);
  free(c->url);
  free(c);
}

int dj_vclient_request(struct dj_vclient *c, const char *method, const char *path, json_t *body, long *status,
                       json_t **resp, char **text, dj_err *err)
{
  _cleanup_free_ char *url = dj_xasprintf("%s%s", c->url, path);
  _cleanup_free_ char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
  struct buf b = { 0 };
  char errbuf[CURL_ERROR_SIZE] = "";
  CURL *h = c->curl;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, payload ? (long) strlen(payload) : 0L);
  curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
  if (strcmp(method, "GET") == 0)
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(h);
  if (payload)
    dj_wipe(payload, strlen(payload)); /* it may carry a tenant's secret */
  *resp = NULL;
  if (text)
    *text = NULL;
  if (rc != CURLE_OK) {
    free(b.p);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
      return dj_error(err, EINTR, "%s %s: interrupted", method, url);
    return dj_error(err, 0, "%s %s: %s", method, url, b.too_big ? "answer too large" : errbuf[0] ? errbuf : curl_easy_strerror(rc));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  json_error_t je;
  if (b.n > 0)
    *resp = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &je);
  if (*resp == NULL && text)
    *text = b.p ? b.p : dj_xstrdup("");
  else
    free(b.p);
  return 0;
}

int dj_vclient_refused(long status, json_t *resp, const char *what, dj_err *err)
{
  json_t *e = json_object_get(resp, "error");
  const char *code = json_string_value(json_object_get(e, "code"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  return dj_error_code(err, (int) status, "%s: HTTP %ld %s: %s", what, status, code ? code : "?",
                       msg ? msg : "no error message");
}

/* ---- node side ------------------------------------------------------------------------------ */

static const char *state_dir(const struct dj_node *node)
{
  return node->state_dir ? node->state_dir : DJ_NODE_DEFAULT_STATE_DIR;
}

/* EK public area and certificate (absent: *cert_len 0) from the TPM. */
static int read_ek(const struct dj_node *node, TPM2B_PUBLIC *ek, uint8_t *cert, size_t *cert_len, dj_err *err)
{
  struct dj_tpm tpm;
  if (dj_tpm_open(dj_tpm_tcti_choose(node->tcti), &tpm, err) < 0)
    return -1;
  ESYS_TR h = ESYS_TR_NONE;
  int r = dj_tpm_ek_create(&tpm, node->ek_kind, &h, ek, err);
  dj_tpm_flush(&tpm, &h);
  *cert_len = 0;
  if (r == 0 && cert) {
    dj_err e2 = { 0 };
    size_t n = 0;
    if (dj_tpm_ek_cert_read(&tpm, node->ek_kind, cert, &n, &e2) == 0)
      *cert_len = n;
    else if (e2.code != DJ_ATTEST_E_EK_NO_CERT)
      r = dj_error(err, 0, "%s", e2.msg);
  }
  dj_tpm_close(&tpm);
  return r;
}

static void id_file(const struct dj_node *node, char *out, size_t size)
{
  snprintf(out, size, "%s/verifier-node-%s.json", state_dir(node), dj_ek_kind_name(node->ek_kind));
}

int dj_vclient_node_id(const struct dj_node *node, char out[65], dj_err *err)
{
  char path[PATH_MAX];
  id_file(node, path, sizeof path);
  json_t *j _cleanup_json_ = NULL;
  dj_err ignore = { 0 };
  const char *id = NULL;
  if (dj_json_load_file(path, 4096, &j, &ignore) == 0 && dj_json_req_string(j, "node_id", "", &id, &ignore) == 0 &&
      strlen(id) == 64) {
    memcpy(out, id, 65);
    return 0;
  }
  TPM2B_PUBLIC ek;
  size_t n;
  if (read_ek(node, &ek, NULL, &n, err) < 0)
    return dj_err_wrap(err, "node id");
  return dj_vnode_id(&ek.publicArea, out, err);
}

static char *b64_public(const TPM2B_PUBLIC *p)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t n = 0;
  dj_err err = { 0 };
  return dj_tpm_marshal_public(p, buf, &n, &err) == 0 ? dj_b64url_encode(buf, n) : NULL;
}

/* Recover the credential with the TPM and send it back. */
static int activate(struct dj_vclient *c, const struct dj_node *node, const char *node_id, json_t *ch,
                    struct dj_venrolled *out, dj_err *err)
{
  const char *id = NULL;
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  if (dj_vcredential_parse(ch, &id, &blob, &seed, err) < 0)
    return dj_err_wrap(err, "enrol: the verifier's challenge");
  TPM2B_DIGEST secret;
  if (dj_node_activate(node, &blob, &seed, &secret, err) < 0)
    return dj_err_wrap(err, "enrol");
  _cleanup_free_ char *sec = dj_b64url_encode(secret.buffer, secret.size);
  dj_wipe(&secret, sizeof secret);
  json_t *body _cleanup_json_ = json_pack("{s:s, s:s}", "challenge_id", id, "secret", sec);
  dj_wipe(sec, strlen(sec));
  _cleanup_free_ char *path = dj_xasprintf("/v1/nodes/%s/activate", node_id);
  long status = 0;
  json_t *resp _cleanup_json_ = NULL;
  if (dj_vclient_request(c, "POST", path, body, &status, &resp, NULL, err) < 0)
    return dj_err_wrap(err, "enrol: activate");
  if (status != 200)
    return dj_vclient_refused(status, resp, "enrol: activate", err);
  snprintf(out->status, sizeof out->status, "%s", json_string_value(json_object_get(resp, "status")) ?: "?");
  out->rotation_pending = json_is_true(json_object_get(resp, "rotation"));
  return 0;
}

int dj_vclient_enroll(struct dj_vclient *c, const struct dj_node *node, const char *name, struct dj_venrolled *out,
                      dj_err *err)
{
  memset(out, 0, sizeof *out);
  struct dj_ak_blobs ak;
  bool created;
  if (dj_node_ak_ensure(node, &ak, &created, err) < 0)
    return dj_err_wrap(err, "enrol");
  TPM2B_PUBLIC ek;
  uint8_t cert[4096];
  size_t cert_len = 0;
  if (read_ek(node, &ek, cert, &cert_len, err) < 0 || dj_vnode_id(&ek.publicArea, out->node_id, err) < 0)
    return dj_err_wrap(err, "enrol");
  _cleanup_free_ char *ekp = b64_public(&ek), *akp = b64_public(&ak.pub);
  _cleanup_free_ char *certb = cert_len ? dj_b64url_encode(cert, cert_len) : NULL;
  json_t *body _cleanup_json_ = json_pack("{s:s, s:s, s:s}", "name", name, "ek_public", ekp, "ak_public", akp);
  if (certb)
    json_object_set_new(body, "ek_certificate", json_string(certb));
  long status = 0;
  json_t *resp _cleanup_json_ = NULL;
  if (dj_vclient_request(c, "POST", "/v1/nodes", body, &status, &resp, NULL, err) < 0)
    return dj_err_wrap(err, "enrol");
  if (status != 200 && status != 201)
    return dj_vclient_refused(status, resp, "enrol", err);
  json_t *ch = json_object_get(resp, "challenge");
  if (status == 200 || ch == NULL) {
    out->already = true;
    snprintf(out->status, sizeof out->status, "%s", json_string_value(json_object_get(resp, "status")) ?: "?");
  } else if (activate(c, node, out->node_id, ch, out, err) < 0) {
    return -1;
  }
  char path[PATH_MAX];
  id_file(node, path, sizeof path);
  _cleanup_free_ char *state = dj_xasprintf("{\"node_id\":\"%s\"}\n", out->node_id);
  return dj_write_file_atomic(path, state, strlen(state), 0600, err) < 0 ? dj_err_wrap(err, "enrol") : 0;
}

int dj_vclient_challenge(struct dj_vclient *c, const char *node_id, struct dj_vchallenge *out, dj_err *err)
{
  json_t *body _cleanup_json_ = json_pack("{s:s}", "node_id", node_id);
  json_t *resp _cleanup_json_ = NULL;
  long status = 0;
  if (dj_vclient_request(c, "POST", "/v1/challenge", body, &status, &resp, NULL, err) < 0)
    return dj_err_wrap(err, "challenge");
  if (status != 201)
    return dj_vclient_refused(status, resp, "challenge", err);
  const char *n = NULL, *sel = NULL;
  size_t len = 0;
  _cleanup_free_ uint8_t *raw = NULL;
  if (dj_json_req_string(resp, "nonce", "challenge", &n, err) < 0 ||
      dj_json_req_string(resp, "pcr_selection", "challenge", &sel, err) < 0 ||
      dj_b64url_decode(n, strlen(n), &raw, &len) < 0 || len != 32)
    return dj_error(err, 0, "challenge: the verifier's answer is not a 32-byte nonce and a PCR selection");
  memcpy(out->nonce, raw, 32);
  json_t *exp = json_object_get(resp, "expires_in_ms");
  out->expires_in_ms = json_is_integer(exp) ? json_integer_value(exp) : 0;
  return dj_pcr_selection_parse(sel, &out->selection, err) < 0 ? dj_err_wrap(err, "challenge") : 0;
}

int dj_vclient_binding(const struct dj_vattest_args *a, const uint8_t nonce[32], EVP_PKEY *ephemeral,
                       uint8_t binding[32], dj_err *err)
{
  uint8_t thumb[32], wl[32];
  char cfg[72];
  if (dj_jwk_thumbprint(ephemeral, thumb, err) < 0 ||
      dj_vworkload_digest(a->manifest, a->profile, a->config, cfg, wl, err) < 0)
    return -1;
  dj_binding_hash(nonce, thumb, wl, binding);
  return 0;
}

json_t *dj_vclient_attest_body(const struct dj_vattest_args *a, const char *node_id, const uint8_t nonce[32],
                               const struct dj_evidence *ev, EVP_PKEY *ephemeral, dj_err *err)
{
  json_t *evj = dj_evidence_to_json(ev), *jwk = dj_jwk_public(ephemeral, err);
  _cleanup_free_ char *n = dj_b64url_encode(nonce, 32);
  if (evj == NULL || jwk == NULL) {
    json_decref(evj);
    json_decref(jwk);
    return dj_error(err, 0, "attest: cannot encode the evidence or the ephemeral key"), NULL;
  }
  json_t *keys = json_array();
  for (size_t i = 0; i < a->n_keys; i++)
    json_array_append_new(keys, json_string(a->keys[i]));
  json_t *body = json_pack("{s:s, s:s, s:o, s:o, s:{s:s, s:s, s:O}, s:o}", "node_id", node_id, "nonce", n, "evidence",
                           evj, "ephemeral_key", jwk, "workload", "manifest", a->manifest, "profile", a->profile,
                           "config", a->config, "keys", keys);
  if (body && a->n_layers > 0) {
    _cleanup_free_ char *m = dj_b64url_encode(a->image_manifest, a->image_manifest_len);
    json_t *layers = json_array();
    for (size_t i = 0; i < a->n_layers; i++)
      json_array_append_new(layers, json_pack("{s:s, s:s}", "digest", a->layers[i].digest, "recipient",
                                              a->layers[i].recipient));
    json_object_set_new(body, "image", json_pack("{s:s}", "manifest", m));
    json_object_set_new(body, "layers", layers);
  }
  if (body == NULL)
    dj_error(err, 0, "attest: cannot build the request");
  return body;
}

void dj_vattest_result_free(struct dj_vattest_result *r)
{
  for (size_t i = 0; i < r->n_keys; i++) {
    dj_wipe(r->keys[i].data, r->keys[i].len);
    free(r->keys[i].data);
    free(r->keys[i].id);
  }
  for (size_t i = 0; i < r->n_layers; i++) {
    dj_wipe(r->layers[i].data, r->layers[i].len);
    free(r->layers[i].data);
    free(r->layers[i].id);
  }
  free(r->keys);
  free(r->layers);
  json_decref(r->answer);
  memset(r, 0, sizeof *r);
}

/* Decrypt each released JWE of an answer's array. */
static int released(json_t *arr, const char *id_key, EVP_PKEY *eph, struct dj_vreleased **out, size_t *n, dj_err *err)
{
  size_t i;
  json_t *o;
  *out = dj_xcalloc(json_array_size(arr) + 1, sizeof **out);
  json_array_foreach(arr, i, o) {
    const char *jwe = json_string_value(json_object_get(o, "jwe"));
    const char *id = json_string_value(json_object_get(o, id_key));
    if (jwe == NULL)
      continue;
    struct dj_vreleased *r = &(*out)[*n];
    if (dj_jwe_decrypt(jwe, strlen(jwe), eph, &r->data, &r->len, err) < 0)
      return dj_err_wrap(err, "attest: released %s", id ? id : "?");
    r->id = dj_xstrdup(id ? id : "");
    (*n)++;
  }
  return 0;
}

int dj_vclient_attest_send(struct dj_vclient *c, json_t *body, EVP_PKEY *ephemeral, struct dj_vattest_result *out,
                           dj_err *err)
{
  if (dj_vclient_request(c, "POST", "/v1/attest", body, &out->status, &out->answer, NULL, err) < 0)
    return dj_err_wrap(err, "attest");
  if (out->status != 200 && out->status != 403)
    return dj_vclient_refused(out->status, out->answer, "attest", err);
  out->allowed = out->status == 200 &&
                 strcmp(json_string_value(json_object_get(out->answer, "decision")) ?: "", "allow") == 0;
  if (!out->allowed)
    return 0;
  json_t *rel = json_object_get(out->answer, "released");
  if (released(json_object_get(rel, "keys"), "id", ephemeral, &out->keys, &out->n_keys, err) < 0 ||
      released(json_object_get(rel, "layers"), "digest", ephemeral, &out->layers, &out->n_layers, err) < 0)
    return -1;
  return 0;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int dj_vclient_attest(struct dj_vclient *c, const struct dj_node *node, const struct dj_vattest_args *a,
                      struct dj_vattest_result *out, dj_err *err)
{
  memset(out, 0, sizeof *out);
  char node_id[65];
  if (a->node_id)
    snprintf(node_id, sizeof node_id, "%s", a->node_id);
  else if (dj_vclient_node_id(node, node_id, err) < 0)
    return -1;
  if (a->on_phase)
    a->on_phase(a->phase_ctx, DJ_VPHASE_CHALLENGE);
  double t0 = now_ms();
  struct dj_vchallenge ch;
  if (dj_vclient_challenge(c, node_id, &ch, err) < 0)
    return -1;
  double t1 = now_ms();
  if (a->on_phase)
    a->on_phase(a->phase_ctx, DJ_VPHASE_QUOTE);
  EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  uint8_t binding[32];
  struct dj_evidence ev = { 0 };
  int r = eph ? dj_vclient_binding(a, ch.nonce, eph, binding, err) : dj_error(err, 0, "attest: no ephemeral key");
  if (r == 0)
    r = dj_node_quote(node, &ch.selection, binding, sizeof binding, &ev, err);
  double t2 = now_ms();
  json_t *body = r == 0 ? dj_vclient_attest_body(a, node_id, ch.nonce, &ev, eph, err) : NULL;
  dj_evidence_free(&ev);
  if (body != NULL && a->on_phase)
    a->on_phase(a->phase_ctx, DJ_VPHASE_ATTEST);
  if (body != NULL)
    r = dj_vclient_attest_send(c, body, eph, out, err);
  else
    r = -1;
  json_decref(body);
  EVP_PKEY_free(eph); /* the ephemeral private key: gone with this call */
  out->ms_challenge = t1 - t0;
  out->ms_quote = t2 - t1;
  out->ms_attest = now_ms() - t2;
  return r;
}

char *dj_vclient_reasons(json_t *answer)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  size_t i, k;
  json_t *c, *key, *reason;
  const char *sep = "";
  json_array_foreach(json_object_get(answer, "checks"), i, c) {
    if (strcmp(json_string_value(json_object_get(c, "result")) ?: "", "failed") != 0)
      continue;
    fprintf(f, "%s%s: %s", sep, json_string_value(json_object_get(c, "code")) ?: "?",
            json_string_value(json_object_get(c, "detail")) ?: "");
    sep = "; ";
  }
  json_array_foreach(json_object_get(answer, "keys"), i, key) {
    json_array_foreach(json_object_get(key, "reasons"), k, reason) {
      if (strcmp(json_string_value(json_object_get(reason, "result")) ?: "", "failed") != 0)
        continue;
      fprintf(f, "%skey %s: %s: %s", sep, json_string_value(json_object_get(key, "id")) ?: "?",
              json_string_value(json_object_get(reason, "rule")) ?: "?",
              json_string_value(json_object_get(reason, "detail")) ?: "");
      sep = "; ";
    }
  }
  if (*sep == '\0' && json_object_get(answer, "error"))
    fprintf(f, "%s", json_string_value(json_object_get(json_object_get(answer, "error"), "message")) ?: "");
  fclose(f);
  return buf;
}
