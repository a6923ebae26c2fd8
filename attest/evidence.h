/* The evidence of docs/protocol.md §1 as JSON: {"ak_public", "quote", "signature"} in base64url
 * (no padding) of their TPM marshalling, "pcrs" as [{"bank","index","digest"}] in selection
 * order, "log" as text. Parsing is strict (unknown members, wrong types, sizes are errors) and
 * bounded; it checks form only, not the evidence (quote.h, mlog.h do). */
#ifndef DJ_ATTEST_EVIDENCE_H
#define DJ_ATTEST_EVIDENCE_H

#include <jansson.h>

#include "attest/node.h"
#include "common/err.h"

/* A new JSON object (NULL on allocation failure). */
json_t *dj_evidence_to_json(const struct dj_evidence *ev);
/* Fill ev (free with dj_evidence_free); errors name the JSON path (DJ_ATTEST_E_MALFORMED). */
int dj_evidence_from_json(json_t *j, struct dj_evidence *ev, dj_err *err);

#endif
