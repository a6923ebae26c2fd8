/* Error codes of attest/: each check that can fail has its own code (in dj_err.code), so callers
 * and tests can tell which check refused the evidence, and the verifier can record it. */
#ifndef DJ_ATTEST_CODES_H
#define DJ_ATTEST_CODES_H

/* The values are stable: docs/protocol.md §4 lists them and verifier records keep them. */
enum dj_attest_code {
  DJ_ATTEST_OK = 0,
  DJ_ATTEST_E_MALFORMED = 100,  /* a TPM structure does not unmarshal, or has trailing bytes */
  DJ_ATTEST_E_SIG_SCHEME,       /* 3: signature algorithm or hash is not the AK's scheme */
  DJ_ATTEST_E_SIGNATURE,        /* 3: the signature does not verify under the AK */
  DJ_ATTEST_E_MAGIC,            /* 4: magic != TPM_GENERATED_VALUE */
  DJ_ATTEST_E_TYPE,             /* 4: type != TPM_ST_ATTEST_QUOTE */
  DJ_ATTEST_E_EXTRA_DATA,       /* 5: extraData != expected binding hash */
  DJ_ATTEST_E_PCR_SELECTION,    /* 6: pcrSelect != the selection asked for */
  DJ_ATTEST_E_PCR_UNCOVERED,    /* 7: a supplied PCR value is not in the quote, or one is missing */
  DJ_ATTEST_E_PCR_DIGEST,       /* 7: pcrDigest != hash of the supplied PCR values */
  DJ_ATTEST_E_RESET_COUNT,      /* 8: resetCount decreased (TPM2_Clear or another TPM) */
  DJ_ATTEST_E_RESTART_COUNT,    /* 8: restartCount decreased within one resetCount */
  DJ_ATTEST_E_CLOCK,            /* 8: clock ran backward beyond the tolerance */
  DJ_ATTEST_E_AK_ATTRIBUTES,    /* AK is not fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign, !decrypt */
  DJ_ATTEST_E_AK_ALGORITHM,     /* AK algorithm, size, scheme or nameAlg not allowed */
  DJ_ATTEST_E_AK_NAME,          /* AK name != nameAlg digest of its public area */
  DJ_ATTEST_E_EK_CHAIN,         /* EK certificate does not chain to a configured root */
  DJ_ATTEST_E_EK_EKU,           /* EK certificate lacks the EK extended key usage 2.23.133.8.1 */
  DJ_ATTEST_E_EK_SAN,           /* EK certificate's TPM directoryName SAN is missing or malformed */
  DJ_ATTEST_E_EK_KEY_MISMATCH,  /* the EK's public key differs from its certificate's */
  DJ_ATTEST_E_EK_NO_CERT,       /* the TPM has no EK certificate in NV */
  DJ_ATTEST_E_CREDENTIAL,       /* credential activation gave a wrong secret or failed */
  DJ_ATTEST_E_LOG_FORMAT,       /* the measurement log does not parse */
  DJ_ATTEST_E_LOG_REPLAY,       /* the measurement log does not replay to the quoted PCR */
  DJ_ATTEST_E_TPM,              /* the TPM (or its TCTI) failed a command */
  DJ_ATTEST_E_EK_PUBLIC,        /* the EK public area is not a restricted decryption key of a known kind */
};

/* A stable short name for a code ("pcr-digest"), for messages, JSON and the CLI's exit report. */
const char *dj_attest_code_name(int code);

#endif
