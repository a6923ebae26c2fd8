/* The node's launch settings: strict, every error naming the file and the member; the
 * environment overrides the file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch/launch.h"

static char file[64];

static void setup(void)
{
  snprintf(file, sizeof file, "/tmp/dj-nodeconf-XXXXXX");
  int fd = mkstemp(file);
  cr_assert_geq(fd, 0);
  close(fd);
  unsetenv("DONJON_VERIFIER");
  unsetenv("DONJON_VERIFIER_CA");
  unsetenv("DONJON_TPM");
  unsetenv("DONJON_NODE_CONFIG");
}

static void teardown(void)
{
  unlink(file);
}

TestSuite(nodeconf, .init = setup, .fini = teardown);

static int load(const char *text, struct dj_vclient_opts *vc, struct dj_node *node, bool *swap, dj_err *err)
{
  FILE *f = fopen(file, "w");
  fputs(text, f);
  fclose(f);
  memset(vc, 0, sizeof *vc);
  dj_node_defaults(node);
  *swap = false;
  return dj_node_config_load(file, vc, node, swap, err);
}

Test(nodeconf, every_member)
{
  struct dj_vclient_opts vc;
  struct dj_node node;
  bool swap;
  dj_err err = { 0 };
  cr_assert_eq(load("{\"verifier\": \"https://v:8443\", \"ca\": \"/ca.pem\", \"tpm\": \"swtpm:port=1\", \"state_dir\": \"/s\", "
                    "\"ek\": \"ecc-p384\", \"ak\": \"ecc-p256\", \"pcr\": 16, \"ek_handle\": 0, \"allow_swap\": true}",
                    &vc, &node, &swap, &err),
               0, "%s", err.msg);
  cr_assert_str_eq(vc.url, "https://v:8443");
  cr_assert_str_eq(vc.ca, "/ca.pem");
  cr_assert_str_eq(node.tcti, "swtpm:port=1");
  cr_assert_str_eq(node.state_dir, "/s");
  cr_assert_eq(node.ek_kind, DJ_EK_ECC_P384);
  cr_assert_eq(node.ak_kind, DJ_AK_ECC_P256);
  cr_assert_eq(node.workload_pcr, 16);
  cr_assert_eq(node.ek_handle, 0);
  cr_assert(swap);
}

Test(nodeconf, the_environment_overrides_the_file)
{
  setenv("DONJON_VERIFIER", "https://other:1", 1);
  setenv("DONJON_TPM", "device:/dev/tpmrm0", 1);
  struct dj_vclient_opts vc;
  struct dj_node node;
  bool swap;
  dj_err err = { 0 };
  cr_assert_eq(load("{\"verifier\": \"https://v:8443\", \"tpm\": \"swtpm:port=1\"}", &vc, &node, &swap, &err), 0, "%s",
               err.msg);
  cr_assert_str_eq(vc.url, "https://other:1");
  cr_assert_str_eq(node.tcti, "device:/dev/tpmrm0");
}

Test(nodeconf, errors_name_the_file_and_the_member)
{
  struct dj_vclient_opts vc;
  struct dj_node node;
  bool swap;
  const char *bad[][2] = {
    { "{\"verifyer\": \"x\"}", "unknown member \"verifyer\"" },
    { "{\"ek\": \"rsa4096\"}", "ek: unknown EK kind \"rsa4096\"" },
    { "{\"ak\": \"dsa\"}", "ak: unknown AK kind \"dsa\"" },
    { "{\"pcr\": 24}", "pcr" },
    { "{\"ek_handle\": 5}", "ek_handle: 0x5 is not a persistent handle" },
    { "{\"verifier\": 7}", "verifier" },
    { "[]", "expected a JSON object" },
    { "{", "" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dj_err err = { 0 };
    cr_assert_eq(load(bad[i][0], &vc, &node, &swap, &err), -1, "%s was accepted", bad[i][0]);
    cr_assert(strstr(err.msg, file) != NULL, "%s: no file name in \"%s\"", bad[i][0], err.msg);
    cr_assert(strstr(err.msg, bad[i][1]) != NULL, "%s: \"%s\" not in \"%s\"", bad[i][0], bad[i][1], err.msg);
  }
}

Test(nodeconf, a_missing_default_file_is_no_error_but_a_named_one_is)
{
  struct dj_vclient_opts vc = { 0 };
  struct dj_node node;
  bool swap = false;
  dj_node_defaults(&node);
  dj_err err = { 0 };
  setenv("DONJON_NODE_CONFIG", "/nonexistent/node.json", 1);
  cr_assert_eq(dj_node_config_load(NULL, &vc, &node, &swap, &err), -1);
  cr_assert(strstr(err.msg, "/nonexistent/node.json") != NULL, "%s", err.msg);
}
