/* The node side: one TPM reached by a TCTI string, through tpm2-tss ESAPI. Every transient object
 * and session made here is flushed before the function returns (swtpm without a resource manager
 * has three object slots). Lock order: the donjon state lock (node.h), then the TPM connection;
 * never hold the connection while waiting on the network. */
#ifndef DJ_ATTEST_TPM_H
#define DJ_ATTEST_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "attest/ekcert.h"
#include "attest/pcr.h"
#include "attest/quote.h"
#include "common/err.h"

#define DJ_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"
#define DJ_TPM_DEFAULT_AK_HANDLE 0x81010002u
/* Where the RSA EK is kept persistent: the TCG provisioning guidance's handle, tpm2_createek -c's. */
#define DJ_TPM_DEFAULT_EK_HANDLE 0x81010001u

struct dj_tpm {
  ESYS_CONTEXT *esys;
  TSS2_TCTI_CONTEXT *tcti;
};

/* --tpm if given, else $DONJON_TPM, else device:/dev/tpmrm0. */
const char *dj_tpm_tcti_choose(const char *flag);
int dj_tpm_open(const char *tcti, struct dj_tpm *tpm, dj_err *err);
void dj_tpm_close(struct dj_tpm *tpm);

enum dj_ek_kind { DJ_EK_RSA2048 = 0, DJ_EK_ECC_P256, DJ_EK_ECC_P384, DJ_EK_KIND_COUNT };
const char *dj_ek_kind_name(enum dj_ek_kind kind); /* "rsa2048", "ecc-p256", "ecc-p384" */
int dj_ek_kind_parse(const char *s, enum dj_ek_kind *out);
uint32_t dj_ek_cert_index(enum dj_ek_kind kind);   /* 0x01c00002, 0x01c0000a, 0x01c00016 */

/* The EK certificate of that kind from NV (DER, exactly the certificate's length even when the NV
 * index is larger). DJ_ATTEST_E_EK_NO_CERT when the index is not defined. */
int dj_tpm_ek_cert_read(struct dj_tpm *tpm, enum dj_ek_kind kind, uint8_t *der, size_t *len, dj_err *err);
/* Raw NV index contents (template and nonce indices 0x01c00003/4, 0x01c0000b/c). 0 if absent. */
int dj_tpm_nv_read(struct dj_tpm *tpm, uint32_t index, uint8_t *buf, size_t size, size_t *len, bool *present,
                   dj_err *err);

/* The TCG default template of an EK kind (RSA-2048 L-1, P-256 L-2, swtpm's P-384). */
void dj_ek_template(enum dj_ek_kind kind, TPM2B_PUBLIC *tmpl);
/* Re-create the EK as a transient primary (flush it with dj_tpm_flush). */
int dj_tpm_ek_create(struct dj_tpm *tpm, enum dj_ek_kind kind, ESYS_TR *ek, TPM2B_PUBLIC *pub, dj_err *err);
/* The EK kept persistent at handle: 1 when an object there has this kind's EK template (the NV
 * template and nonce applied), everything but the key itself, which the caller proves by loading
 * the AK under it (only the real EK can load a key wrapped to it); 0 when there is none, or
 * something else (left alone). *ek must be released with Esys_TR_Close, never flushed. */
int dj_tpm_ek_persistent(struct dj_tpm *tpm, enum dj_ek_kind kind, uint32_t handle, ESYS_TR *ek, TPM2B_PUBLIC *pub,
                         dj_err *err);
/* Make obj (the EK, or an AK to restore) persistent at handle; fails, evicting nothing, when the
 * handle is taken (owner authorisation). */
int dj_tpm_persist(struct dj_tpm *tpm, ESYS_TR obj, uint32_t handle, dj_err *err);
/* A session to authorise the use of the EK ek (its public area, as created): PolicySecret(endorsement)
 * when its authPolicy is PolicyA (the L-1 and L-2 templates), else the password session when it
 * allows userWithAuth (swtpm's P-384 EK, or an NV template that says so: ESYS_TR_PASSWORD, nothing
 * to flush); DJ_ATTEST_E_EK_PUBLIC otherwise. */
int dj_tpm_ek_session(struct dj_tpm *tpm, const TPMT_PUBLIC *ek, ESYS_TR *session, dj_err *err);
/* An HMAC session salted with the EK (parameter encryption on), for quote and activation. */
int dj_tpm_salted_session(struct dj_tpm *tpm, ESYS_TR ek, ESYS_TR *session, dj_err *err);
void dj_tpm_flush(struct dj_tpm *tpm, ESYS_TR *handle);

/* AK blobs: the source of truth (a saved context does not survive a reboot). */
struct dj_ak_blobs {
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE priv;
};
enum dj_ak_kind { DJ_AK_RSA2048 = 0, DJ_AK_ECC_P256 };
void dj_ak_template(enum dj_ak_kind kind, TPM2B_PUBLIC *tmpl);
/* ek_pub: the EK's public area as dj_tpm_ek_create gave it (it says how the EK is authorised). */
int dj_tpm_ak_create(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, enum dj_ak_kind kind,
                     struct dj_ak_blobs *out, dj_err *err);
int dj_tpm_ak_load(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, const struct dj_ak_blobs *blobs,
                   ESYS_TR *ak, dj_err *err);
/* Make the loaded AK persistent at handle, replacing what another AK left there. */
int dj_tpm_ak_persist(struct dj_tpm *tpm, ESYS_TR ak, uint32_t handle, dj_err *err);
int dj_ak_blobs_save(const char *path, const struct dj_ak_blobs *blobs, dj_err *err);
int dj_ak_blobs_load(const char *path, struct dj_ak_blobs *blobs, dj_err *err);

/* TPM2_ActivateCredential of a blob made for the AK under the EK; the secret is returned in cert. */
int dj_tpm_activate(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, ESYS_TR ak, const TPM2B_ID_OBJECT *blob,
                    const TPM2B_ENCRYPTED_SECRET *enc_seed, TPM2B_DIGEST *cert, dj_err *err);

/* Read every PCR of sel (in several TPM2_PCR_Read calls: at most 8 per call), in selection order. */
int dj_tpm_pcr_read(struct dj_tpm *tpm, const TPML_PCR_SELECTION *sel, struct dj_pcr_values *out, dj_err *err);
/* The allocated banks (as a selection with no PCRs). */
int dj_tpm_banks(struct dj_tpm *tpm, TPML_PCR_SELECTION *banks, dj_err *err);
/* Extend pcr in every allocated bank with H_bank(data). */
int dj_tpm_extend(struct dj_tpm *tpm, unsigned pcr, const void *data, size_t len, dj_err *err);
int dj_tpm_clock(struct dj_tpm *tpm, struct dj_tpm_counters *out, dj_err *err);

/* TPM2_Quote with the AK's scheme over sel, extraData = extra; marshalled TPMS_ATTEST and
 * TPMT_SIGNATURE in buffers of DJ_TPM_STRUCT_MAX. */
int dj_tpm_quote(struct dj_tpm *tpm, ESYS_TR ak, ESYS_TR session, const TPML_PCR_SELECTION *sel,
                 const uint8_t *extra, size_t extra_len, uint8_t *msg, size_t *msg_len, uint8_t *sig, size_t *sig_len,
                 dj_err *err);

/* Manufacturer (4 ASCII chars), firmware version and the like, for `donjon tpm info`. */
struct dj_tpm_props {
  char manufacturer[5];
  uint32_t firmware1, firmware2;
  char vendor[17];
};
int dj_tpm_properties(struct dj_tpm *tpm, struct dj_tpm_props *out, dj_err *err);

#endif
