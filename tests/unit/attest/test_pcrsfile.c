/* The tpm2-tools PCR file: round trip, the layout tpm2_quote writes, and each inconsistency. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "attest/codes.h"
#include "attest/pcrsfile.h"

static void values_for(const TPML_PCR_SELECTION *sel, struct dj_pcr_values *v)
{
  memset(v, 0, sizeof *v);
  for (uint32_t b = 0; b < sel->count; b++)
    for (unsigned p = 0; p < 24; p++)
      if (dj_pcr_selected(&sel->pcrSelections[b], p)) {
        struct dj_pcr_value *x = &v->v[v->count++];
        x->bank = sel->pcrSelections[b].hash;
        x->index = (uint8_t) p;
        x->size = sel->pcrSelections[b].hash == TPM2_ALG_SHA1 ? 20 : 32;
        memset(x->digest, (int) (p + 1), x->size);
      }
}

Test(pcrsfile, round_trip_and_layout)
{
  TPML_PCR_SELECTION sel, back;
  static struct dj_pcr_values v, w;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,8,9,23+sha1:0,1", &sel, &err), 0);
  values_for(&sel, &v);
  uint8_t *buf = NULL;
  size_t len = 0;
  cr_assert_eq(dj_pcrs_file_write(&sel, &v, &buf, &len, &err), 0);
  cr_assert_eq(len, 132 + 4 + 2 * 532, "13 values: two digest lists, as tpm2_quote writes them");
  cr_assert_eq(buf[0], 2);          /* bank count, little-endian */
  cr_assert_eq(buf[4], 0x0b);       /* sha256 */
  cr_assert_eq(buf[6], 3);          /* sizeofSelect */
  cr_assert_eq(buf[7], 0xff);
  cr_assert_eq(buf[132], 2);        /* two TPML_DIGEST */
  cr_assert_eq(buf[136], 8);        /* the first holds 8 */
  cr_assert_eq(buf[136 + 532], 5);  /* the second 5 */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), 0, "%s", err.msg);
  cr_assert(dj_pcr_selection_equal(&sel, &back));
  cr_assert_eq(w.count, v.count);
  cr_assert_eq(memcmp(w.v, v.v, v.count * sizeof v.v[0]), 0);

  cr_assert_eq(dj_pcrs_file_read(buf, len - 1, &back, &w, &err), -1); /* truncated */
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  buf[136 + 532] = 4; /* one digest fewer than selected PCRs */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), -1);
  buf[136 + 532] = 9; /* more than 8 in a list */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), -1);
  buf[136 + 532] = 5;
  buf[140] = 31; /* a SHA-256 value of 31 bytes */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), -1);
  buf[140] = 32;
  buf[0] = 17; /* more banks than TPM2_NUM_PCR_BANKS */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), -1);
  buf[0] = 2;
  buf[6] = 5; /* sizeofSelect beyond the array */
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), -1);
  buf[6] = 3;
  cr_assert_eq(dj_pcrs_file_read(buf, len, &back, &w, &err), 0, "%s", err.msg);
  free(buf);
}
