#include "attest/codes.h"

const char *dj_attest_code_name(int code)
{
  switch ((enum dj_attest_code) code) {
  case DJ_ATTEST_OK: return "ok";
  case DJ_ATTEST_E_MALFORMED: return "malformed";
  case DJ_ATTEST_E_SIG_SCHEME: return "signature-scheme";
  case DJ_ATTEST_E_SIGNATURE: return "signature";
  case DJ_ATTEST_E_MAGIC: return "magic";
  case DJ_ATTEST_E_TYPE: return "type";
  case DJ_ATTEST_E_EXTRA_DATA: return "extra-data";
  case DJ_ATTEST_E_PCR_SELECTION: return "pcr-selection";
  case DJ_ATTEST_E_PCR_UNCOVERED: return "pcr-uncovered";
  case DJ_ATTEST_E_PCR_DIGEST: return "pcr-digest";
  case DJ_ATTEST_E_RESET_COUNT: return "reset-count";
  case DJ_ATTEST_E_RESTART_COUNT: return "restart-count";
  case DJ_ATTEST_E_CLOCK: return "clock";
  case DJ_ATTEST_E_AK_ATTRIBUTES: return "ak-attributes";
  case DJ_ATTEST_E_AK_ALGORITHM: return "ak-algorithm";
  case DJ_ATTEST_E_AK_NAME: return "ak-name";
  case DJ_ATTEST_E_EK_CHAIN: return "ek-chain";
  case DJ_ATTEST_E_EK_EKU: return "ek-eku";
  case DJ_ATTEST_E_EK_SAN: return "ek-san";
  case DJ_ATTEST_E_EK_KEY_MISMATCH: return "ek-key-mismatch";
  case DJ_ATTEST_E_EK_NO_CERT: return "ek-no-cert";
  case DJ_ATTEST_E_CREDENTIAL: return "credential";
  case DJ_ATTEST_E_LOG_FORMAT: return "log-format";
  case DJ_ATTEST_E_LOG_REPLAY: return "log-replay";
  case DJ_ATTEST_E_TPM: return "tpm";
  case DJ_ATTEST_E_EK_PUBLIC: return "ek-public";
  }
  return "unknown";
}
