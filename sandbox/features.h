/* `donjon features`: the runtime-spec features document (features.md), built from the parser's own
 * tables and from what this libseccomp really builds, so it cannot drift from the code. */
#ifndef DJ_FEATURES_H
#define DJ_FEATURES_H

#include <jansson.h>

json_t *dj_features(void);

#endif
