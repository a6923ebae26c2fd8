/* Step 1: the workload the verifier is asked about. Its digest (DESIGN.md §3) covers the image
 * manifest, the profile and the container's config.json exactly as the container will get it,
 * except the two things only the node can know: where the decrypted root lives (root.path is
 * "rootfs" in the digest) and the bind mount of the released secrets at /run/secrets/donjon, which
 * the launch itself adds, read-only, after the answer (docs/launch.md). */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "images/layout.h"
#include "images/unpack.h"
#include "launch/launch.h"
#include "sandbox/profile.h"
#include "verifier/requests.h"

void dj_workload_free(struct dj_workload *w)
{
  dj_image_free(w->img);
  json_decref(w->config);
  memset(w, 0, sizeof *w);
}

/* The image's User must be numeric: the digest is fixed before the image is decrypted, so a name
 * cannot be looked up in its /etc/passwd. */
static int user_numeric(json_t *image_config, dj_err *err)
{
  const char *user = json_string_value(json_object_get(json_object_get(image_config, "config"), "User"));
  if (user == NULL || *user == '\0')
    return 0;
  for (const char *p = user; *p; p++)
    if ((*p < '0' || *p > '9') && *p != ':')
      return dj_error(err, 0,
                      "image config User \"%s\" is a name: a confidential launch needs a numeric uid[:gid], because "
                      "the workload digest is fixed before the image is decrypted",
                      user);
  return 0;
}

static int config_from_image(struct dj_workload *w, char **args, size_t n_args, dj_err *err)
{
  w->config = dj_profile_confidential();
  if (w->config == NULL)
    return dj_error(err, 0, "the confidential profile is missing its seccomp profile");
  if (user_numeric(w->img->config, err) < 0 || dj_bundle_config_apply(w->config, w->img->config, -1, err) < 0)
    return -1;
  json_t *process = json_object_get(w->config, "process");
  if (n_args > 0) {
    json_t *a = json_array();
    for (size_t i = 0; i < n_args; i++)
      json_array_append_new(a, json_string(args[i]));
    json_object_set_new(process, "args", a);
  }
  json_t *a = json_object_get(process, "args");
  if (!json_is_array(a) || json_array_size(a) == 0)
    return dj_error(err, 0, "the image has no Entrypoint or Cmd and no arguments were given");
  return 0;
}

int dj_workload_build(const char *image, const char *profile, json_t *base, char **args, size_t n_args,
                      struct dj_workload *w, dj_err *err)
{
  memset(w, 0, sizeof *w);
  if (profile == NULL)
    profile = "confidential";
  if (strcmp(profile, "confidential") != 0) {
    dj_error(err, 0, "--profile %s: a confidential launch runs the confidential profile only", profile);
    return -1;
  }
  w->profile = "confidential";
  if (dj_image_open(image, &w->img, err) < 0)
    goto fail;
  snprintf(w->manifest, sizeof w->manifest, "%s", w->img->manifest_desc.digest);
  if (base == NULL) {
    if (config_from_image(w, args, n_args, err) < 0)
      goto fail;
  } else {
    w->config = json_deep_copy(base);
    if (dj_profile_apply_confidential(w->config, err) < 0)
      goto fail;
  }
  json_t *root = json_object_get(w->config, "root");
  if (!json_is_object(root)) {
    root = json_object();
    json_object_set_new(w->config, "root", root);
  }
  json_object_set_new(root, "path", json_string("rootfs"));
  json_object_set_new(root, "readonly", json_true());
  char config_digest[72];
  if (dj_vworkload_digest(w->manifest, w->profile, w->config, config_digest, w->digest, err) < 0)
    goto fail;
  return 0;
fail:
  dj_err_wrap(err, "%s", image);
  dj_workload_free(w);
  return -1;
}
