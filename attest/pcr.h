/* PCR selections ("sha256:0,1,2,23+sha1:0") and PCR values as the verifier receives them. */
#ifndef DJ_ATTEST_PCR_H
#define DJ_ATTEST_PCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

#define DJ_PCR_COUNT 24
#define DJ_PCR_VALUES_MAX (DJ_PCR_COUNT * 4)

struct dj_pcr_value {
  TPMI_ALG_HASH bank;
  uint8_t index;
  uint16_t size;
  uint8_t digest[TPM2_SHA512_DIGEST_SIZE];
};

/* Values in selection order: banks in the selection's order, PCR indices ascending. */
struct dj_pcr_values {
  size_t count;
  struct dj_pcr_value v[DJ_PCR_VALUES_MAX];
};

/* Parse "sha256:0,1,2,23" with banks joined by '+', as tpm2-tools spells it. sizeofSelect is 3. */
int dj_pcr_selection_parse(const char *text, TPML_PCR_SELECTION *out, dj_err *err);
/* The same text back (buffer of at least 256 bytes). */
void dj_pcr_selection_format(const TPML_PCR_SELECTION *sel, char *out, size_t size);
/* Same banks in the same order with the same PCRs (select bytes past sizeofSelect count as 0). */
bool dj_pcr_selection_equal(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b);
bool dj_pcr_selected(const TPMS_PCR_SELECTION *s, unsigned index);
/* Number of PCRs selected over all banks. */
size_t dj_pcr_selection_count(const TPML_PCR_SELECTION *sel);

/* The quote's pcrDigest: H_alg(values of every selected PCR in selection order). Fails with
 * DJ_ATTEST_E_PCR_UNCOVERED when a selected PCR has no value or a value is not selected (or is out
 * of order), so no supplied value is left outside what the quote covers. */
int dj_pcr_digest(const TPML_PCR_SELECTION *sel, const struct dj_pcr_values *vals, TPMI_ALG_HASH alg,
                  uint8_t *out, size_t *out_len, dj_err *err);

/* The value of (bank, index) in vals, or NULL. */
const struct dj_pcr_value *dj_pcr_values_find(const struct dj_pcr_values *vals, TPMI_ALG_HASH bank, unsigned index);

#endif
