/* donjon tpm info|quote|check-quote|extend: thin commands over attest/ (node.h, quote.h). The
 * quote directory is what tpm2_quote writes and tpm2_checkquote reads, so both tools interoperate. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest/codes.h"
#include "attest/ekcert.h"
#include "attest/evidence.h"
#include "attest/mlog.h"
#include "attest/node.h"
#include "attest/pcrsfile.h"
#include "attest/quote.h"
#include "attest/tpm.h"
#include "attest/tpmstruct.h"
#include "cli/cli.h"
#include "common/json.h"
#include "common/util.h"

struct tpm_opts {
  struct dj_node node;
  bool json;
  const char *nonce, *pcrs, *out, *dir, *ak_pem, *event;
};

static void usage(FILE *f)
{
  fprintf(f, "Usage: donjon tpm info [--json]\n"
             "       donjon tpm quote --nonce HEX --pcrs sha256:0,1,2,3,4,5,6,7,23 --out DIR\n"
             "       donjon tpm check-quote --ak ak.pub.pem --nonce HEX --dir DIR [--pcrs SELECTION] [--pcr N]\n"
             "       donjon tpm extend --event JSON\n"
             "\n"
             "Options (all subcommands):\n"
             "  --tpm TCTI          TPM to use (default $DONJON_TPM, else device:/dev/tpmrm0)\n"
             "  --state-dir DIR     AK blobs, measurement logs and lock (default " DJ_NODE_DEFAULT_STATE_DIR ")\n"
             "  --ek KIND           rsa2048 (default), ecc-p256 or ecc-p384\n"
             "  --ak KIND           rsa2048 (default) or ecc-p256\n"
             "  --ak-handle HANDLE  persistent AK handle for tpm2-tools (default 0x81010002, 0: none)\n"
             "  --pcr N             workload PCR (default 23): extend, and check-quote's log replay\n"
             "                      when DIR has mlog.jsonl\n");
}

static int parse_opts(struct dj_cli *cli, int argc, char **argv, const char *sub, struct tpm_opts *o)
{
  enum { O_TPM = 256, O_STATE, O_EK, O_AK, O_AKH, O_PCR, O_JSON, O_NONCE, O_PCRS, O_OUT, O_DIR, O_AKPEM, O_EVENT };
  static const struct option opts[] = {
    { "tpm", required_argument, NULL, O_TPM },       { "state-dir", required_argument, NULL, O_STATE },
    { "ek", required_argument, NULL, O_EK },         { "ak", required_argument, NULL, O_AK },
    { "ak-handle", required_argument, NULL, O_AKH }, { "pcr", required_argument, NULL, O_PCR },
    { "json", no_argument, NULL, O_JSON },           { "nonce", required_argument, NULL, O_NONCE },
    { "pcrs", required_argument, NULL, O_PCRS },     { "out", required_argument, NULL, O_OUT },
    { "dir", required_argument, NULL, O_DIR },       { "event", required_argument, NULL, O_EVENT },
    { "help", no_argument, NULL, 'h' },              { 0 },
  };
  memset(o, 0, sizeof *o);
  dj_node_defaults(&o->node);
  bool check = strcmp(sub, "check-quote") == 0;
  char cmd[64];
  snprintf(cmd, sizeof cmd, "tpm %s", sub);
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case O_TPM: o->node.tcti = optarg; break;
    case O_STATE: o->node.state_dir = optarg; break;
    case O_EK:
      if (dj_ek_kind_parse(optarg, &o->node.ek_kind) < 0)
        return dj_cli_usage(cmd, "--ek: unknown EK kind \"%s\"", optarg);
      break;
    case O_AK:
      if (check) {
        o->ak_pem = optarg; /* check-quote: --ak is the AK's public key file */
      } else if (strcmp(optarg, "rsa2048") == 0) {
        o->node.ak_kind = DJ_AK_RSA2048;
      } else if (strcmp(optarg, "ecc-p256") == 0) {
        o->node.ak_kind = DJ_AK_ECC_P256;
      } else {
        return dj_cli_usage(cmd, "--ak: unknown AK kind \"%s\" (rsa2048 or ecc-p256)", optarg);
      }
      break;
    case O_AKH: {
      char *end = NULL;
      errno = 0;
      unsigned long h = strtoul(optarg, &end, 0);
      if (errno || *end || (h != 0 && (h < 0x81000000ul || h > 0x81ffffffUL)))
        return dj_cli_usage(cmd, "--ak-handle: \"%s\" is not a persistent handle", optarg);
      o->node.ak_handle = (uint32_t) h;
      break;
    }
    case O_PCR:
      if (dj_parse_u64(optarg, &v) < 0 || v >= DJ_PCR_COUNT)
        return dj_cli_usage(cmd, "--pcr: \"%s\" is not a PCR index", optarg);
      o->node.workload_pcr = (unsigned) v;
      break;
    case O_JSON: o->json = true; break;
    case O_NONCE: o->nonce = optarg; break;
    case O_PCRS: o->pcrs = optarg; break;
    case O_OUT: o->out = optarg; break;
    case O_DIR: o->dir = optarg; break;
    case O_EVENT: o->event = optarg; break;
    case 'h': usage(stdout); return 0;
    default: return dj_cli_usage(cmd, "unknown option");
    }
  }
  if (optind != argc)
    return dj_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
  if (!cli->debug)
    setenv("TSS2_LOG", "all+NONE", 0); /* tpm2-tss logs to stderr by itself; our errors say what failed */
  return -1;
}

static int parse_nonce(const char *hex, uint8_t *out, size_t *len, dj_err *err)
{
  long n = 0;
  unsigned char *b = hex ? OPENSSL_hexstr2buf(hex, &n) : NULL;
  if (b == NULL || n <= 0 || (size_t) n > sizeof(TPMU_HA)) {
    OPENSSL_free(b);
    return dj_error(err, 0, "--nonce: \"%s\" is not 1 to %zu bytes of hex", hex ? hex : "", sizeof(TPMU_HA));
  }
  memcpy(out, b, (size_t) n);
  *len = (size_t) n;
  OPENSSL_free(b);
  return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return dj_write_file_atomic(path, data, len, 0644, err);
}

static int read_file(const char *dir, const char *name, uint8_t **out, size_t *len, size_t max, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "%s", path);
  uint8_t *buf = dj_xmalloc(max + 1);
  ssize_t n = dj_read_all(fd, buf, max + 1);
  if (n < 0 || (size_t) n > max) {
    free(buf);
    return n < 0 ? dj_error(err, errno, "%s", path) : dj_error(err, 0, "%s: larger than %zu bytes", path, max);
  }
  *out = buf;
  *len = (size_t) n;
  return 0;
}

static int cmd_quote(struct tpm_opts *o, dj_err *err)
{
  uint8_t nonce[sizeof(TPMU_HA)];
  size_t nonce_len = 0;
  TPML_PCR_SELECTION sel;
  if (o->out == NULL || o->pcrs == NULL)
    return dj_error(err, 0, "quote: --out and --pcrs are required");
  if (parse_nonce(o->nonce, nonce, &nonce_len, err) < 0 || dj_pcr_selection_parse(o->pcrs, &sel, err) < 0)
    return dj_err_wrap(err, "quote");
  if (mkdir(o->out, 0755) < 0 && errno != EEXIST)
    return dj_error(err, errno, "quote: %s", o->out);
  struct dj_evidence ev;
  if (dj_node_quote(&o->node, &sel, nonce, nonce_len, &ev, err) < 0)
    return -1;
  _cleanup_free_ uint8_t *pcrs = NULL;
  size_t pcrs_len = 0;
  EVP_PKEY *key = NULL;
  int r = dj_pcrs_file_write(&sel, &ev.pcrs, &pcrs, &pcrs_len, err);
  if (r == 0)
    r = dj_tpm_public_to_evp(&ev.ak.publicArea, &key, err);
  char *pem = NULL;
  long pem_len = 0;
  if (r == 0) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || !PEM_write_bio_PUBKEY(bio, key) || (pem_len = BIO_get_mem_data(bio, &pem)) <= 0)
      r = dj_error(err, 0, "quote: cannot write the AK as PEM");
    if (r == 0)
      r = write_file(o->out, "ak.pub.pem", pem, (size_t) pem_len, err);
    BIO_free(bio);
  }
  EVP_PKEY_free(key);
  if (r == 0)
    r = write_file(o->out, "quote.msg", ev.msg, ev.msg_len, err);
  if (r == 0)
    r = write_file(o->out, "quote.sig", ev.sig, ev.sig_len, err);
  if (r == 0)
    r = write_file(o->out, "quote.pcrs", pcrs, pcrs_len, err);
  if (r == 0)
    r = write_file(o->out, "mlog.jsonl", ev.log, ev.log_len, err);
  if (r == 0) { /* the same, as the verifier receives it (docs/protocol.md §1) */
    _cleanup_json_ json_t *j = dj_evidence_to_json(&ev);
    _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    r = text ? write_file(o->out, "evidence.json", text, strlen(text), err) : dj_error(err, 0, "evidence: out of memory");
  }
  dj_evidence_free(&ev);
  return r < 0 ? dj_err_wrap(err, "quote") : 0;
}

/* The AK as a PEM public key: its scheme is the signature's (RSASSA or ECDSA), as tpm2_checkquote does. */
static int ak_from_pem(const char *file, const uint8_t *sig, size_t sig_len, TPM2B_PUBLIC *ak, dj_err *err)
{
  FILE *f = fopen(file, "r");
  if (f == NULL)
    return dj_error(err, errno, "%s", file);
  EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
  fclose(f);
  if (key == NULL)
    return dj_error(err, 0, "%s: not a PEM public key", file);
  memset(ak, 0, sizeof *ak);
  int r = dj_tpm_public_from_evp(key, &ak->publicArea, err);
  EVP_PKEY_free(key);
  if (r < 0)
    return dj_err_wrap(err, "%s", file);
  TPMT_SIGNATURE s;
  if (dj_tpm_unmarshal_signature(sig, sig_len, &s, err) < 0)
    return -1;
  TPMT_PUBLIC *p = &ak->publicArea;
  p->nameAlg = TPM2_ALG_SHA256;
  if (p->type == TPM2_ALG_RSA) {
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = s.signature.any.hashAlg;
  } else {
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = s.signature.any.hashAlg;
  }
  return 0;
}

/* Check 10 for the workload PCR when the directory carries the measurement log (donjon's quotes). */
static int check_log(struct tpm_opts *o, const struct dj_pcr_values *vals, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/mlog.jsonl", o->dir);
  if (access(path, F_OK) != 0)
    return 0;
  const struct dj_pcr_value *v = dj_pcr_values_find(vals, TPM2_ALG_SHA256, o->node.workload_pcr);
  if (v == NULL)
    return 0; /* the workload PCR was not quoted: nothing to replay to */
  _cleanup_free_ uint8_t *log = NULL;
  size_t len = 0;
  if (read_file(o->dir, "mlog.jsonl", &log, &len, DJ_MLOG_MAX_BYTES, err) < 0)
    return -1;
  struct dj_mlog m;
  if (dj_mlog_parse((const char *) log, len, &m, err) < 0)
    return -1;
  int r = dj_mlog_check(&m, v, err);
  dj_mlog_free(&m);
  return r;
}

static int cmd_check_quote(struct tpm_opts *o, dj_err *err)
{
  uint8_t nonce[sizeof(TPMU_HA)];
  size_t nonce_len = 0;
  if (o->ak_pem == NULL || o->dir == NULL)
    return dj_error(err, 0, "check-quote: --ak and --dir are required");
  if (parse_nonce(o->nonce, nonce, &nonce_len, err) < 0)
    return dj_err_wrap(err, "check-quote");
  _cleanup_free_ uint8_t *msg = NULL, *sig = NULL, *pcrs = NULL;
  size_t msg_len, sig_len, pcrs_len;
  if (read_file(o->dir, "quote.msg", &msg, &msg_len, DJ_TPM_STRUCT_MAX, err) < 0 ||
      read_file(o->dir, "quote.sig", &sig, &sig_len, DJ_TPM_STRUCT_MAX, err) < 0 ||
      read_file(o->dir, "quote.pcrs", &pcrs, &pcrs_len, DJ_PCRS_FILE_MAX, err) < 0)
    return dj_err_wrap(err, "check-quote");
  TPML_PCR_SELECTION file_sel, want_sel;
  static struct dj_pcr_values vals;
  TPM2B_PUBLIC ak;
  if (dj_pcrs_file_read(pcrs, pcrs_len, &file_sel, &vals, err) < 0 || ak_from_pem(o->ak_pem, sig, sig_len, &ak, err) < 0)
    return dj_err_wrap(err, "check-quote: %s", dj_attest_code_name(err->code));
  want_sel = file_sel;
  if (o->pcrs != NULL && dj_pcr_selection_parse(o->pcrs, &want_sel, err) < 0)
    return dj_err_wrap(err, "check-quote");
  struct dj_quote_expect ex = { .extra_data = nonce, .extra_len = nonce_len, .selection = &want_sel, .pcrs = &vals };
  struct dj_quote_claims claims;
  if (dj_quote_verify(msg, msg_len, sig, sig_len, &ak, &ex, &claims, err) < 0)
    return dj_err_wrap(err, "check-quote: %s", dj_attest_code_name(err->code));
  if (check_log(o, &vals, err) < 0)
    return dj_err_wrap(err, "check-quote: %s", dj_attest_code_name(err->code));
  printf("quote OK: resetCount %u, restartCount %u, clock %llu ms, safe %s, firmware 0x%016llx\n",
         claims.counters.reset_count, claims.counters.restart_count, (unsigned long long) claims.counters.clock,
         claims.counters.safe ? "yes" : "no", (unsigned long long) claims.firmware_version);
  return 0;
}

static int cmd_extend(struct tpm_opts *o, dj_err *err)
{
  if (o->event == NULL)
    return dj_error(err, 0, "extend: --event is required");
  _cleanup_json_ json_t *ev = NULL;
  if (dj_json_load_buf(o->event, strlen(o->event), &ev, err) < 0)
    return dj_err_wrap(err, "extend: --event");
  uint64_t seq = 0;
  if (dj_node_extend(&o->node, ev, &seq, err) < 0)
    return -1;
  printf("%llu\n", (unsigned long long) seq);
  return 0;
}

static int cmd_info(struct tpm_opts *o, dj_err *err)
{
  struct dj_tpm tpm;
  if (dj_tpm_open(dj_tpm_tcti_choose(o->node.tcti), &tpm, err) < 0)
    return dj_err_wrap(err, "info");
  struct dj_tpm_props props;
  TPML_PCR_SELECTION banks;
  if (dj_tpm_properties(&tpm, &props, err) < 0 || dj_tpm_banks(&tpm, &banks, err) < 0) {
    dj_tpm_close(&tpm);
    return dj_err_wrap(err, "info");
  }
  _cleanup_json_ json_t *j = json_object();
  char fw[32];
  snprintf(fw, sizeof fw, "%u.%u.%u.%u", props.firmware1 >> 16, props.firmware1 & 0xffff, props.firmware2 >> 16,
           props.firmware2 & 0xffff);
  for (int i = 3; i >= 0 && props.manufacturer[i] == ' '; i--)
    props.manufacturer[i] = '\0';
  json_object_set_new(j, "manufacturer", json_string(props.manufacturer));
  json_object_set_new(j, "vendor", json_string(props.vendor));
  json_object_set_new(j, "firmware_version", json_string(fw));
  json_t *jb = json_array();
  for (uint32_t i = 0; i < banks.count; i++) {
    const char *n = dj_tpm_hash_name(banks.pcrSelections[i].hash);
    json_array_append_new(jb, n ? json_string(n) : json_integer(banks.pcrSelections[i].hash));
  }
  json_object_set_new(j, "pcr_banks", jb);
  json_t *certs = json_array();
  for (int k = 0; k < DJ_EK_KIND_COUNT; k++) {
    uint8_t der[DJ_EK_CERT_MAX];
    size_t len = 0;
    dj_err e = { 0 };
    if (dj_tpm_ek_cert_read(&tpm, (enum dj_ek_kind) k, der, &len, &e) < 0)
      continue; /* absent (some firmware TPMs have none): policy decides */
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long) len);
    struct dj_ek_claims c;
    if (x == NULL)
      continue;
    dj_ekcert_claims(x, &c, &e); /* the SAN may be missing: the rest is still worth showing */
    ESYS_TR ek = ESYS_TR_NONE; /* the EK re-created from its template must be the certificate's */
    TPM2B_PUBLIC ekpub;
    bool match = dj_tpm_ek_create(&tpm, (enum dj_ek_kind) k, &ek, &ekpub, &e) == 0 &&
                 dj_ekcert_match_public(x, &ekpub.publicArea, &e) == 0;
    dj_tpm_flush(&tpm, &ek);
    /* What the operator's inventory and the verifier name the node by: SHA-256 of the EK's
     * SubjectPublicKeyInfo, here from the certificate (docs/protocol.md §7). */
    char digest[80] = "";
    unsigned char *spki = NULL;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (spki_len > 0) {
      uint8_t d[32];
      SHA256(spki, (size_t) spki_len, d);
      strcpy(digest, "sha256:");
      for (int i = 0; i < 32; i++)
        snprintf(digest + 7 + 2 * i, 3, "%02x", d[i]);
    }
    OPENSSL_free(spki);
    X509_free(x);
    char idx[16];
    snprintf(idx, sizeof idx, "0x%08x", dj_ek_cert_index((enum dj_ek_kind) k));
    json_array_append_new(certs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "kind",
                                           dj_ek_kind_name((enum dj_ek_kind) k), "nv_index", idx, "subject", c.subject,
                                           "issuer", c.issuer, "key_type", c.key_type, "manufacturer", c.manufacturer,
                                           "model", c.model, "version", c.version, "ek_matches", match,
                                           "ek_digest", digest));
  }
  json_object_set_new(j, "ek_certificates", certs);
  /* The handle is donjon's AK only when the object there has the name of one of the state
   * directory's AK blobs: any other object is reported as such, not as the AK. */
  ESYS_TR h = ESYS_TR_NONE;
  bool ours = false, other = false;
  if (o->node.ak_handle != 0 &&
      Esys_TR_FromTPMPublic(tpm.esys, o->node.ak_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h) == 0) {
    TPM2B_NAME *name = NULL;
    ours = Esys_TR_GetName(tpm.esys, h, &name) == TSS2_RC_SUCCESS && dj_node_ak_known(&o->node, name);
    other = !ours;
    Esys_Free(name);
    Esys_TR_Close(tpm.esys, &h);
  }
  char hs[16];
  snprintf(hs, sizeof hs, "0x%08x", o->node.ak_handle);
  json_object_set_new(j, "ak_handle", ours ? json_string(hs) : json_null());
  json_object_set_new(j, "ak_handle_other", json_boolean(other));
  dj_tpm_close(&tpm);
  if (o->json) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    return 0;
  }
  printf("manufacturer: %s\nvendor: %s\nfirmware: %s\npcr banks:", props.manufacturer, props.vendor, fw);
  for (size_t i = 0; i < json_array_size(jb); i++)
    printf(" %s", json_string_value(json_array_get(jb, i)) ? json_string_value(json_array_get(jb, i)) : "?");
  printf("\nEK certificates:%s\n", json_array_size(certs) ? "" : " none");
  for (size_t i = 0; i < json_array_size(certs); i++) {
    json_t *c = json_array_get(certs, i);
    printf("  %s (NV %s): %s, issuer %s, subject %s, EK %s\n", json_string_value(json_object_get(c, "kind")),
           json_string_value(json_object_get(c, "nv_index")), json_string_value(json_object_get(c, "key_type")),
           json_string_value(json_object_get(c, "issuer")), json_string_value(json_object_get(c, "subject")),
           json_is_true(json_object_get(c, "ek_matches")) ? "matches" : "DOES NOT MATCH");
  }
  json_t *akh = json_object_get(j, "ak_handle");
  if (json_is_true(json_object_get(j, "ak_handle_other")))
    printf("AK handle: none (0x%08x holds another object)\n", o->node.ak_handle);
  else
    printf("AK handle: %s\n", json_is_string(akh) ? json_string_value(akh) : "none");
  return 0;
}

int dj_cmd_tpm(struct dj_cli *cli, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  struct tpm_opts o;
  int r = parse_opts(cli, argc - 1, argv + 1, sub, &o);
  if (r >= 0)
    return r;
  dj_err err = { 0 };
  if (strcmp(sub, "info") == 0)
    r = cmd_info(&o, &err);
  else if (strcmp(sub, "quote") == 0)
    r = cmd_quote(&o, &err);
  else if (strcmp(sub, "check-quote") == 0)
    r = cmd_check_quote(&o, &err);
  else if (strcmp(sub, "extend") == 0)
    r = cmd_extend(&o, &err);
  else
    return dj_cli_usage("tpm", "unknown subcommand \"%s\"", sub);
  return r < 0 ? dj_cli_fail(&err) : 0;
}
