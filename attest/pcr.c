#include "attest/pcr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

bool dj_pcr_selected(const TPMS_PCR_SELECTION *s, unsigned index)
{
  return index / 8 < s->sizeofSelect && index / 8 < TPM2_PCR_SELECT_MAX && (s->pcrSelect[index / 8] >> (index % 8)) & 1;
}

int dj_pcr_selection_parse(const char *text, TPML_PCR_SELECTION *out, dj_err *err)
{
  memset(out, 0, sizeof *out);
  _cleanup_free_ char *copy = dj_xstrdup(text);
  char *save = NULL;
  for (char *bank = strtok_r(copy, "+", &save); bank != NULL; bank = strtok_r(NULL, "+", &save)) {
    char *colon = strchr(bank, ':');
    if (colon == NULL)
      return dj_error(err, 0, "PCR selection \"%s\": \"%s\" is not BANK:PCR,PCR...", text, bank);
    *colon = '\0';
    TPMI_ALG_HASH alg = dj_tpm_hash_from_name(bank);
    if (alg == TPM2_ALG_ERROR)
      return dj_error(err, 0, "PCR selection \"%s\": unknown bank \"%s\"", text, bank);
    if (out->count == TPM2_NUM_PCR_BANKS)
      return dj_error(err, 0, "PCR selection \"%s\": more than %d banks", text, TPM2_NUM_PCR_BANKS);
    for (uint32_t i = 0; i < out->count; i++)
      if (out->pcrSelections[i].hash == alg)
        return dj_error(err, 0, "PCR selection \"%s\": bank %s named twice", text, bank);
    TPMS_PCR_SELECTION *s = &out->pcrSelections[out->count++];
    s->hash = alg;
    s->sizeofSelect = 3;
    char *save2 = NULL;
    for (char *p = strtok_r(colon + 1, ",", &save2); p != NULL; p = strtok_r(NULL, ",", &save2)) {
      uint64_t idx;
      if (dj_parse_u64(p, &idx) < 0 || idx >= DJ_PCR_COUNT)
        return dj_error(err, 0, "PCR selection \"%s\": \"%s\" is not a PCR index 0-%d", text, p, DJ_PCR_COUNT - 1);
      s->pcrSelect[idx / 8] |= (uint8_t) (1u << (idx % 8));
    }
  }
  if (out->count == 0)
    return dj_error(err, 0, "PCR selection \"%s\": empty", text);
  return 0;
}

void dj_pcr_selection_format(const TPML_PCR_SELECTION *sel, char *out, size_t size)
{
  size_t n = 0;
  out[0] = '\0';
  for (uint32_t b = 0; b < sel->count && b < TPM2_NUM_PCR_BANKS; b++) {
    const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
    const char *name = dj_tpm_hash_name(s->hash);
    n += (size_t) snprintf(out + n, n < size ? size - n : 0, "%s%s:", b ? "+" : "", name ? name : "?");
    bool first = true;
    for (unsigned i = 0; i < 8u * TPM2_PCR_SELECT_MAX; i++)
      if (dj_pcr_selected(s, i)) {
        n += (size_t) snprintf(out + n, n < size ? size - n : 0, "%s%u", first ? "" : ",", i);
        first = false;
      }
  }
}

bool dj_pcr_selection_equal(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b)
{
  if (a->count != b->count || a->count > TPM2_NUM_PCR_BANKS)
    return false;
  for (uint32_t i = 0; i < a->count; i++) {
    const TPMS_PCR_SELECTION *x = &a->pcrSelections[i], *y = &b->pcrSelections[i];
    if (x->hash != y->hash)
      return false;
    for (unsigned p = 0; p < 8u * TPM2_PCR_SELECT_MAX; p++)
      if (dj_pcr_selected(x, p) != dj_pcr_selected(y, p))
        return false;
  }
  return true;
}

size_t dj_pcr_selection_count(const TPML_PCR_SELECTION *sel)
{
  size_t n = 0;
  for (uint32_t b = 0; b < sel->count && b < TPM2_NUM_PCR_BANKS; b++)
    for (unsigned p = 0; p < 8u * TPM2_PCR_SELECT_MAX; p++)
      n += dj_pcr_selected(&sel->pcrSelections[b], p);
  return n;
}

const struct dj_pcr_value *dj_pcr_values_find(const struct dj_pcr_values *vals, TPMI_ALG_HASH bank, unsigned index)
{
  for (size_t i = 0; i < vals->count && i < DJ_PCR_VALUES_MAX; i++)
    if (vals->v[i].bank == bank && vals->v[i].index == index)
      return &vals->v[i];
  return NULL;
}

static void md_ctx_freep(EVP_MD_CTX **p)
{
  EVP_MD_CTX_free(*p);
}

int dj_pcr_digest(const TPML_PCR_SELECTION *sel, const struct dj_pcr_values *vals, TPMI_ALG_HASH alg,
                  uint8_t *out, size_t *out_len, dj_err *err)
{
  const EVP_MD *md = dj_tpm_md(alg);
  if (md == NULL)
    return dj_error_code(err, DJ_ATTEST_E_SIG_SCHEME, "PCR digest: unsupported hash 0x%04x", alg);
  if (sel->count > TPM2_NUM_PCR_BANKS || vals->count > DJ_PCR_VALUES_MAX)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR digest: too many banks or values");
  __attribute__((cleanup(md_ctx_freep))) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL))
    return dj_error(err, 0, "PCR digest: out of memory");
  size_t next = 0; /* the supplied values must come exactly in selection order */
  for (uint32_t b = 0; b < sel->count; b++) {
    const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
    const EVP_MD *bank_md = dj_tpm_md(s->hash);
    const char *bank = dj_tpm_hash_name(s->hash);
    if (bank_md == NULL)
      return dj_error_code(err, DJ_ATTEST_E_PCR_SELECTION, "PCR digest: unsupported bank 0x%04x", s->hash);
    for (unsigned p = 0; p < 8u * TPM2_PCR_SELECT_MAX; p++) {
      if (!dj_pcr_selected(s, p))
        continue;
      if (next >= vals->count)
        return dj_error_code(err, DJ_ATTEST_E_PCR_UNCOVERED, "PCR %s:%u is quoted but no value was supplied", bank, p);
      const struct dj_pcr_value *v = &vals->v[next++];
      if (v->bank != s->hash || v->index != p)
        return dj_error_code(err, DJ_ATTEST_E_PCR_UNCOVERED, "PCR %s:%u is quoted but the value supplied in its place is %s:%u",
                             bank, p, dj_tpm_hash_name(v->bank) ? dj_tpm_hash_name(v->bank) : "?", v->index);
      if (v->size != (size_t) EVP_MD_get_size(bank_md))
        return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "PCR %s:%u: value of %u bytes", bank, p, v->size);
      if (!EVP_DigestUpdate(ctx, v->digest, v->size))
        return dj_error(err, 0, "PCR digest: hash failed");
    }
  }
  if (next != vals->count)
    return dj_error_code(err, DJ_ATTEST_E_PCR_UNCOVERED, "PCR %s:%u: value supplied but not covered by the quote",
                         dj_tpm_hash_name(vals->v[next].bank) ? dj_tpm_hash_name(vals->v[next].bank) : "?",
                         vals->v[next].index);
  unsigned int len = 0;
  if (!EVP_DigestFinal_ex(ctx, out, &len))
    return dj_error(err, 0, "PCR digest: hash failed");
  *out_len = len;
  return 0;
}
