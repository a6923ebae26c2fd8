/* donjon features: what this runtime implements, as runtime-spec's features.md defines it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/json.h"
#include "sandbox/features.h"

int dj_cmd_features(struct dj_cli *cli, int argc, char **argv)
{
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("Usage: donjon features\n\nPrint the runtime-spec features document (JSON) of this build.\n");
    return 0;
  }
  if (argc > 1)
    return dj_cli_usage("features", "takes no arguments");
  _cleanup_json_ json_t *f = dj_features();
  if (f == NULL) {
    dj_err err = { 0 };
    dj_error(&err, 0, "features: could not build the document");
    return dj_cli_fail(&err);
  }
  char *text = json_dumps(f, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
  puts(text);
  free(text);
  return 0;
}
