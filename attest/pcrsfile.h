/* The PCR file of tpm2-tools 5.4 (`tpm2_quote -o`, `tpm2_checkquote -f`): a little-endian memory
 * dump of tpm2-tss's TPML_PCR_SELECTION (132 bytes), a uint32 count, then count TPML_DIGEST
 * (532 bytes each, at most 8 digests). Not a TPM wire format: for the CLI's tpm2-tools interop
 * only, never in the protocol. Read with explicit offsets and bounds. */
#ifndef DJ_ATTEST_PCRSFILE_H
#define DJ_ATTEST_PCRSFILE_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/pcr.h"
#include "common/err.h"

#define DJ_PCRS_FILE_SEL_SIZE 132u
#define DJ_PCRS_FILE_BLOCK_SIZE 532u
#define DJ_PCRS_FILE_MAX (DJ_PCRS_FILE_SEL_SIZE + 4 + DJ_PCR_VALUES_MAX * DJ_PCRS_FILE_BLOCK_SIZE)

/* Values in selection order; fails (DJ_ATTEST_E_MALFORMED) on any inconsistency. */
int dj_pcrs_file_read(const uint8_t *buf, size_t len, TPML_PCR_SELECTION *sel, struct dj_pcr_values *vals, dj_err *err);
/* A malloc'd file image. vals must be in selection order. */
int dj_pcrs_file_write(const TPML_PCR_SELECTION *sel, const struct dj_pcr_values *vals, uint8_t **out, size_t *len,
                       dj_err *err);

#endif
