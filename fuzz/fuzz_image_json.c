/* index.json, manifest and config documents: selection (without nested blobs), descriptors, layer
 * media types, diff_ids. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "images/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  if (dj_json_load_buf((const char *) data, size, &j, &err) < 0)
    return 0;
  struct dj_descriptor d;
  if (dj_index_select(-1, j, NULL, &d, &err) == 0)
    dj_descriptor_clear(&d);
  if (dj_index_select(-1, j, "latest", &d, &err) == 0)
    dj_descriptor_clear(&d);
  struct dj_image img;
  memset(&img, 0, sizeof img);
  img.dirfd = -1;
  if (dj_manifest_parse(j, &img, &err) == 0 && dj_config_parse(j, &img, &err) == 0) {
    for (size_t i = 0; i < img.n_layers; i++)
      dj_layer_media_type(img.layers[i].compression, img.layers[i].encrypted);
  }
  /* free what dj_manifest_parse and dj_config_parse filled (as dj_image_free does) */
  dj_descriptor_clear(&img.config_desc);
  for (size_t i = 0; i < img.n_layers; i++)
    dj_descriptor_clear(&img.layers[i]);
  free(img.layers);
  if (img.diff_ids)
    for (size_t i = 0; img.diff_ids[i]; i++)
      free(img.diff_ids[i]);
  free(img.diff_ids);
  json_decref(j);
  return 0;
}
