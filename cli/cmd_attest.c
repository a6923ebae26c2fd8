/* donjon attest: one challenge, a quote bound to it, to an ephemeral key and to the workload, one
 * /v1/attest; prints the decision and its reasons, and writes released key material only where
 * --out says (mode 0600). The library call is the one the confidential launch makes. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd_node.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"

#define NO_WORKLOAD "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static void usage(FILE *f)
{
  fprintf(f, "Usage: donjon attest --verifier URL [--key ID ...] [--workload FILE] [--out FILE] [--json]\n"
             "                     [--ca CERT] [--tpm TCTI] [--state-dir DIR] [--ek KIND] [--ak KIND]\n"
             "\n"
             "Attest this node to the verifier and ask for the keys named by --key. The quote covers\n"
             "the PCRs the verifier asks for and is bound to its nonce, to an ephemeral key and to the\n"
             "workload digest; released keys are encrypted to the ephemeral key and decrypted here.\n"
             "Prints the decision and every reason; exits 1 on a denial.\n"
             "\n"
             "  --key ID         a key to release (repeat for several)\n"
             "  --workload FILE  the workload description {\"manifest\", \"profile\", \"config\"}\n"
             "                   (DESIGN.md §3); without it, no workload is named and no workload\n"
             "                   rule can match\n"
             "  --out FILE       write the released keys as JSON {\"keys\": {ID: base64url}} (0600)\n"
             "  --json           print the verifier's whole answer as JSON\n"
             "  (the node options are those of 'donjon node enroll --help')\n");
}

static int write_keys(const char *file, const struct dj_vattest_result *res, dj_err *err)
{
  json_t *keys = json_object();
  for (size_t i = 0; i < res->n_keys; i++) {
    char *b = dj_b64url_encode(res->keys[i].data, res->keys[i].len);
    json_object_set_new(keys, res->keys[i].id, json_string(b));
    dj_wipe(b, strlen(b));
    free(b);
  }
  json_t *doc _cleanup_json_ = json_pack("{s:o}", "keys", keys);
  char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  const char *id;
  json_t *v;
  json_object_foreach(keys, id, v) /* the copies in the document are secrets too */
    dj_wipe((char *) json_string_value(v), json_string_length(v));
  int r = s ? dj_write_file_atomic(file, s, strlen(s), 0600, err) : dj_error(err, 0, "--out: cannot serialise");
  if (s)
    dj_wipe(s, strlen(s));
  free(s);
  return r;
}

int dj_cmd_attest(struct dj_cli *cli, int argc, char **argv)
{
  struct dj_node_cli o;
  int r = dj_node_cli_parse(cli, argc, argv, "attest", usage, &o);
  if (r >= 0)
    return r;
  dj_err err = { 0 };
  json_t *wl _cleanup_json_ = NULL;
  const char *manifest = NO_WORKLOAD, *profile = "none";
  json_t *config = NULL;
  if (o.workload) {
    if (dj_json_load_file(o.workload, 4u << 20, &wl, &err) < 0 ||
        dj_json_req_string(wl, "manifest", "workload", &manifest, &err) < 0 ||
        dj_json_req_string(wl, "profile", "workload", &profile, &err) < 0 ||
        dj_json_req_object(wl, "config", "workload", &config, &err) < 0)
      return dj_cli_fail(&err);
  }
  json_t *empty _cleanup_json_ = json_object();
  struct dj_vattest_args a = { .keys = o.keys, .n_keys = o.n_keys, .manifest = manifest, .profile = profile,
                               .config = config ? config : empty };
  struct dj_vclient *c = NULL;
  struct dj_vattest_result res;
  memset(&res, 0, sizeof res);
  if (dj_vclient_open(&o.vc, &c, &err) < 0 || dj_vclient_attest(c, &o.node, &a, &res, &err) < 0) {
    dj_vclient_close(c);
    dj_vattest_result_free(&res);
    return dj_cli_fail(&err);
  }
  dj_vclient_close(c);
  if (o.json) {
    char *s = json_dumps(res.answer, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", s ? s : "{}");
    free(s);
  } else {
    printf("decision: %s\n", res.allowed ? "allow" : "deny");
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(res.answer, "checks"), i, ch)
      printf("  %-8s %-7s %s\n", json_string_value(json_object_get(ch, "check")),
             json_string_value(json_object_get(ch, "result")), json_string_value(json_object_get(ch, "detail")));
    json_t *k;
    json_array_foreach(json_object_get(res.answer, "keys"), i, k)
      printf("  key %s: %s\n", json_string_value(json_object_get(k, "id")),
             json_string_value(json_object_get(k, "decision")));
  }
  if (res.allowed && o.out && write_keys(o.out, &res, &err) < 0) {
    dj_vattest_result_free(&res);
    return dj_cli_fail(&err);
  }
  if (!res.allowed) {
    char *why = dj_vclient_reasons(res.answer);
    dj_error(&err, 0, "attest: denied: %s", why ? why : "?");
    free(why);
    dj_vattest_result_free(&res);
    return dj_cli_fail(&err);
  }
  dj_vattest_result_free(&res);
  return 0;
}
