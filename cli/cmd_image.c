/* donjon image inspect|encrypt|decrypt|unpack|bundle: thin commands over images/. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/util.h"
#include "images/convert.h"
#include "images/keys.h"
#include "images/layout.h"
#include "images/ocicrypt.h"
#include "images/unpack.h"
#include "sandbox/profile.h"

static void image_usage(FILE *out)
{
  fprintf(out,
          "Usage: donjon image COMMAND [OPTIONS] ARGS\n"
          "\n"
          "Encrypted OCI images (ocicrypt, as skopeo writes and reads them).\n"
          "IMAGE-REF is oci:DIR[:TAG] or oci-archive:FILE[:TAG].\n"
          "\n"
          "  inspect [--json] IMAGE-REF\n"
          "      manifest digest, config, each layer's media type, size and recipients\n"
          "  encrypt --recipient jwe:PUB.pem [--recipient ...] SRC-REF DST-REF\n"
          "      encrypt every layer to the recipients (RSA: RSA-OAEP; EC: ECDH-ES+A256KW)\n"
          "  decrypt --key PRIV.pem SRC-REF DST-REF\n"
          "      decrypt every layer (HMAC, digest and diff_id checked)\n"
          "  unpack [--key PRIV.pem] [--keep-devices] [--keep-setuid] [--uid-map C:H:N] [--gid-map C:H:N]\n"
          "         IMAGE-REF DIR\n"
          "      extract the layers safely into DIR (must not exist or be empty)\n"
          "  bundle [--key PRIV.pem] [--profile default|confidential] IMAGE-REF DIR\n"
          "      DIR/rootfs and DIR/config.json, runnable by 'donjon run'\n");
}

static void keyp_free(EVP_PKEY **k)
{
  EVP_PKEY_free(*k);
}
#define _cleanup_key_ __attribute__((cleanup(keyp_free)))

static int layer_recipients(const struct dj_descriptor *d, json_t *out_array, char *text, size_t n)
{
  dj_ocicrypt_recipient_kinds(d->annotations, text, n);
  _cleanup_free_ char *copy = dj_xstrdup(text);
  char *save = NULL;
  for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
    json_array_append_new(out_array, json_string(t));
  return 0;
}

static int cmd_inspect(int argc, char **argv)
{
  static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 } };
  bool as_json = false;
  int c;
  while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
    if (c == 'j')
      as_json = true;
    else if (c == 'h') {
      image_usage(stdout);
      return 0;
    } else
      return dj_cli_usage("image inspect", "unknown option");
  }
  if (optind != argc - 1)
    return dj_cli_usage("image inspect", "expects one IMAGE-REF");
  dj_err err = { 0 };
  struct dj_image *img = NULL;
  if (dj_image_open(argv[optind], &img, &err) < 0)
    return dj_cli_fail(&err);
  const char *os = json_string_value(json_object_get(img->config, "os"));
  const char *arch = json_string_value(json_object_get(img->config, "architecture"));
  json_t *layers = json_array();
  for (size_t i = 0; i < img->n_layers; i++) {
    const struct dj_descriptor *d = &img->layers[i];
    json_t *rec = json_array();
    char text[512];
    layer_recipients(d, rec, text, sizeof text);
    json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:b, s:o}", "mediaType", d->media_type, "digest",
                                            d->digest, "size", (json_int_t) d->size, "encrypted", d->encrypted,
                                            "recipients", rec));
  }
  json_t *doc = json_pack("{s:{s:s, s:I}, s:{s:s, s:I, s:s?, s:s?}, s:o}", "manifest", "digest",
                          img->manifest_desc.digest, "size", (json_int_t) img->manifest_desc.size, "config", "digest",
                          img->config_desc.digest, "size", (json_int_t) img->config_desc.size, "os", os,
                          "architecture", arch, "layers", layers);
  if (as_json) {
    char *s = json_dumps(doc, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
  } else {
    printf("manifest  %s  %llu bytes\n", img->manifest_desc.digest, (unsigned long long) img->manifest_desc.size);
    printf("config    %s  %llu bytes  %s/%s\n", img->config_desc.digest, (unsigned long long) img->config_desc.size,
           os ? os : "?", arch ? arch : "?");
    for (size_t i = 0; i < img->n_layers; i++) {
      const struct dj_descriptor *d = &img->layers[i];
      char text[512];
      dj_ocicrypt_recipient_kinds(d->annotations, text, sizeof text);
      printf("layer %-3zu %s  %llu bytes  %s\n    %s\n", i, d->digest, (unsigned long long) d->size,
             d->encrypted ? "encrypted" : "plain", d->media_type);
      if (d->encrypted)
        printf("    recipients: %s\n", text[0] ? text : "none");
    }
  }
  json_decref(doc);
  dj_image_free(img);
  return 0;
}

#define MAX_RECIPIENTS 64

static int cmd_encrypt(int argc, char **argv)
{
  static const struct option opts[] = { { "recipient", required_argument, NULL, 'r' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
  EVP_PKEY *keys[MAX_RECIPIENTS];
  size_t n = 0;
  int c, ret = 1;
  dj_err err = { 0 };
  while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
    if (c == 'h') {
      image_usage(stdout);
      ret = 0;
      goto out;
    }
    if (c != 'r') {
      ret = dj_cli_usage("image encrypt", "unknown option");
      goto out;
    }
    if (strncmp(optarg, "jwe:", 4) != 0) {
      ret = dj_cli_usage("image encrypt", "--recipient %s: only jwe:PUBKEY.pem recipients are supported", optarg);
      goto out;
    }
    if (n == MAX_RECIPIENTS) {
      ret = dj_cli_usage("image encrypt", "at most %d recipients", MAX_RECIPIENTS);
      goto out;
    }
    if (dj_key_load_public(optarg + 4, &keys[n], &err) < 0) {
      dj_err_wrap(&err, "--recipient");
      ret = dj_cli_fail(&err);
      goto out;
    }
    n++;
  }
  if (n == 0 || optind != argc - 2) {
    ret = dj_cli_usage("image encrypt", "expects --recipient jwe:PUB.pem, SRC-REF and DST-REF");
    goto out;
  }
  ret = dj_image_encrypt(argv[optind], argv[optind + 1], keys, n, &err) < 0 ? dj_cli_fail(&err) : 0;
out:
  for (size_t i = 0; i < n; i++)
    EVP_PKEY_free(keys[i]);
  return ret;
}

/* --key PRIV.pem, shared by decrypt, unpack and bundle. */
static int load_key(const char *cmd, const char *path, EVP_PKEY **key)
{
  dj_err err = { 0 };
  if (dj_key_load_private(path, key, &err) < 0) {
    dj_err_wrap(&err, "%s: --key", cmd);
    return dj_cli_fail(&err);
  }
  return 0;
}

static int cmd_decrypt(int argc, char **argv)
{
  static const struct option opts[] = { { "key", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
                                        { 0 } };
  _cleanup_key_ EVP_PKEY *key = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+k:h", opts, NULL)) != -1) {
    if (c == 'h') {
      image_usage(stdout);
      return 0;
    }
    if (c != 'k')
      return dj_cli_usage("image decrypt", "unknown option");
    EVP_PKEY_free(key);
    key = NULL;
    if (load_key("image decrypt", optarg, &key) != 0)
      return 1;
  }
  if (key == NULL || optind != argc - 2)
    return dj_cli_usage("image decrypt", "expects --key PRIV.pem, SRC-REF and DST-REF");
  dj_err err = { 0 };
  return dj_image_decrypt(argv[optind], argv[optind + 1], key, &err) < 0 ? dj_cli_fail(&err) : 0;
}

static int parse_idmap(const char *s, struct dj_idmap *m)
{
  unsigned long long c, h, n;
  char tail;
  /* Both ranges end below 4294967295, (uid_t) -1, which is no id. */
  if (sscanf(s, "%llu:%llu:%llu%c", &c, &h, &n, &tail) != 3 || n == 0 || c > UINT32_MAX || h > UINT32_MAX ||
      n > UINT32_MAX || c + n > UINT32_MAX || h + n > UINT32_MAX)
    return -1;
  m->container = (uint32_t) c;
  m->host = (uint32_t) h;
  m->size = (uint32_t) n;
  return 0;
}

static int cmd_unpack_or_bundle(int argc, char **argv, bool bundle)
{
  const char *cmd = bundle ? "image bundle" : "image unpack";
  enum { OPT_DEV = 256, OPT_SUID, OPT_UID, OPT_GID, OPT_PROFILE };
  static const struct option opts[] = {
    { "key", required_argument, NULL, 'k' },       { "keep-devices", no_argument, NULL, OPT_DEV },
    { "keep-setuid", no_argument, NULL, OPT_SUID }, { "uid-map", required_argument, NULL, OPT_UID },
    { "gid-map", required_argument, NULL, OPT_GID }, { "profile", required_argument, NULL, OPT_PROFILE },
    { "help", no_argument, NULL, 'h' },            { 0 },
  };
  _cleanup_key_ EVP_PKEY *key = NULL;
  struct dj_unpack_opts uo;
  dj_unpack_opts_default(&uo);
  const char *profile = "default";
  int c;
  while ((c = getopt_long(argc, argv, "+k:h", opts, NULL)) != -1) {
    switch (c) {
    case 'h': image_usage(stdout); return 0;
    case 'k':
      EVP_PKEY_free(key);
      key = NULL;
      if (load_key(cmd, optarg, &key) != 0)
        return 1;
      break;
    case OPT_DEV: uo.allow_devices = true; break;
    case OPT_SUID: uo.keep_setid = true; break;
    case OPT_UID:
      if (parse_idmap(optarg, &uo.uid_map) < 0)
        return dj_cli_usage(cmd, "--uid-map %s: expected CONTAINER:HOST:SIZE, ranges below 4294967295", optarg);
      break;
    case OPT_GID:
      if (parse_idmap(optarg, &uo.gid_map) < 0)
        return dj_cli_usage(cmd, "--gid-map %s: expected CONTAINER:HOST:SIZE, ranges below 4294967295", optarg);
      break;
    case OPT_PROFILE:
      if (!bundle)
        return dj_cli_usage(cmd, "--profile is for 'image bundle'");
      profile = optarg;
      break;
    default: return dj_cli_usage(cmd, "unknown option");
    }
  }
  if (optind != argc - 2)
    return dj_cli_usage(cmd, "expects IMAGE-REF and DIR");
  dj_err err = { 0 };
  if (!bundle)
    return dj_image_unpack(argv[optind], key, &uo, argv[optind + 1], &err) < 0 ? dj_cli_fail(&err) : 0;
  _cleanup_json_ json_t *base = NULL;
  if (strcmp(profile, "default") == 0)
    base = dj_profile_default(geteuid() != 0);
  else if (strcmp(profile, "confidential") == 0)
    base = dj_profile_confidential();
  else
    return dj_cli_usage(cmd, "--profile %s: expected default or confidential", profile);
  if (base == NULL) {
    dj_error(&err, 0, "%s: profile %s unavailable", cmd, profile);
    return dj_cli_fail(&err);
  }
  return dj_image_bundle(argv[optind], key, &uo, base, argv[optind + 1], &err) < 0 ? dj_cli_fail(&err) : 0;
}

int dj_cmd_image(struct dj_cli *cli, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    image_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  optind = 0;
  if (strcmp(sub, "inspect") == 0)
    return cmd_inspect(argc - 1, argv + 1);
  if (strcmp(sub, "encrypt") == 0)
    return cmd_encrypt(argc - 1, argv + 1);
  if (strcmp(sub, "decrypt") == 0)
    return cmd_decrypt(argc - 1, argv + 1);
  if (strcmp(sub, "unpack") == 0)
    return cmd_unpack_or_bundle(argc - 1, argv + 1, false);
  if (strcmp(sub, "bundle") == 0)
    return cmd_unpack_or_bundle(argc - 1, argv + 1, true);
  return dj_cli_usage("image", "unknown command \"%s\"", sub);
}
