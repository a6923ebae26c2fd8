#include "attest/pcrsfile.h"

#include <string.h>

#include <openssl/evp.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

/* tpm2-tss's in-memory layout: TPMS_PCR_SELECTION is hash(2) sizeofSelect(1) pcrSelect(4) pad(1);
 * TPM2B_DIGEST is size(2) buffer(64). */
#define SEL_ENTRY 8u
#define DIGEST_ENTRY 66u

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint16_t le16(const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}
static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
  p[2] = (uint8_t) (v >> 16);
  p[3] = (uint8_t) (v >> 24);
}
static void put16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
}

int dj_pcrs_file_read(const uint8_t *buf, size_t len, TPML_PCR_SELECTION *sel, struct dj_pcr_values *vals, dj_err *err)
{
  memset(sel, 0, sizeof *sel);
  memset(vals, 0, sizeof *vals);
  if (len < DJ_PCRS_FILE_SEL_SIZE + 4 || len > DJ_PCRS_FILE_MAX)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: %zu bytes", len);
  sel->count = le32(buf);
  if (sel->count == 0 || sel->count > TPM2_NUM_PCR_BANKS)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: %u banks", sel->count);
  for (uint32_t b = 0; b < sel->count; b++) {
    const uint8_t *e = buf + 4 + b * SEL_ENTRY;
    TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
    s->hash = le16(e);
    s->sizeofSelect = e[2];
    if (dj_tpm_md(s->hash) == NULL || s->sizeofSelect > TPM2_PCR_SELECT_MAX)
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: bank %u: hash 0x%04x, %u select bytes", b, s->hash,
                           s->sizeofSelect);
    memcpy(s->pcrSelect, e + 3, s->sizeofSelect);
  }
  uint32_t blocks = le32(buf + DJ_PCRS_FILE_SEL_SIZE);
  if (blocks > DJ_PCR_VALUES_MAX || len != DJ_PCRS_FILE_SEL_SIZE + 4 + (size_t) blocks * DJ_PCRS_FILE_BLOCK_SIZE)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: %u digest lists do not fill %zu bytes", blocks, len);
  size_t want = dj_pcr_selection_count(sel);
  if (want > DJ_PCR_VALUES_MAX)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: %zu PCRs selected", want);
  /* Digests follow the selection's order across the lists. */
  uint32_t b = 0;
  unsigned p = 0;
  for (uint32_t k = 0; k < blocks; k++) {
    const uint8_t *blk = buf + DJ_PCRS_FILE_SEL_SIZE + 4 + (size_t) k * DJ_PCRS_FILE_BLOCK_SIZE;
    uint32_t n = le32(blk);
    if (n > 8)
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: digest list %u holds %u digests", k, n);
    for (uint32_t d = 0; d < n; d++) {
      while (b < sel->count && !dj_pcr_selected(&sel->pcrSelections[b], p)) {
        if (++p == 8u * TPM2_PCR_SELECT_MAX) {
          p = 0;
          b++;
        }
      }
      if (b >= sel->count || vals->count >= want)
        return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: more digests than selected PCRs");
      const uint8_t *dg = blk + 4 + d * DIGEST_ENTRY;
      struct dj_pcr_value *v = &vals->v[vals->count++];
      v->bank = sel->pcrSelections[b].hash;
      v->index = (uint8_t) p;
      v->size = le16(dg);
      if (v->size != (uint16_t) EVP_MD_get_size(dj_tpm_md(v->bank)))
        return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: PCR %u: digest of %u bytes", p, v->size);
      memcpy(v->digest, dg + 2, v->size);
      if (++p == 8u * TPM2_PCR_SELECT_MAX) {
        p = 0;
        b++;
      }
    }
  }
  if (vals->count != want)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR file: %zu digests for %zu selected PCRs", vals->count, want);
  return 0;
}

int dj_pcrs_file_write(const TPML_PCR_SELECTION *sel, const struct dj_pcr_values *vals, uint8_t **out, size_t *len,
                       dj_err *err)
{
  if (sel->count > TPM2_NUM_PCR_BANKS || vals->count > DJ_PCR_VALUES_MAX)
    return dj_error(err, 0, "PCR file: too many banks or values");
  uint32_t blocks = (uint32_t) ((vals->count + 7) / 8);
  size_t n = DJ_PCRS_FILE_SEL_SIZE + 4 + (size_t) blocks * DJ_PCRS_FILE_BLOCK_SIZE;
  uint8_t *buf = dj_xcalloc(1, n);
  put32(buf, sel->count);
  for (uint32_t b = 0; b < sel->count; b++) {
    uint8_t *e = buf + 4 + b * SEL_ENTRY;
    put16(e, sel->pcrSelections[b].hash);
    e[2] = sel->pcrSelections[b].sizeofSelect;
    memcpy(e + 3, sel->pcrSelections[b].pcrSelect, TPM2_PCR_SELECT_MAX);
  }
  put32(buf + DJ_PCRS_FILE_SEL_SIZE, blocks);
  for (size_t i = 0; i < vals->count; i++) {
    uint8_t *blk = buf + DJ_PCRS_FILE_SEL_SIZE + 4 + (i / 8) * DJ_PCRS_FILE_BLOCK_SIZE;
    put32(blk, le32(blk) + 1);
    uint8_t *dg = blk + 4 + (i % 8) * DIGEST_ENTRY;
    put16(dg, vals->v[i].size);
    memcpy(dg + 2, vals->v[i].digest, vals->v[i].size);
  }
  *out = buf;
  *len = n;
  return 0;
}
