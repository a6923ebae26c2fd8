/* The quote's and the activation's sessions are salted with the EK: a recording proxy between
 * donjon and swtpm (the swtpm TCTI sends raw TPM commands) unmarshals every command with tss2-mu,
 * tracks which transient handles are EKs (CreatePrimary under the endorsement hierarchy; and the
 * persistent handle such an EK is made, by EvictControl: the node keeps its RSA EK) and which
 * sessions were started with tpmKey = such an EK and a non-empty encryptedSalt, and checks the
 * sessions in Quote's and ActivateCredential's authorization areas. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "attest/codes.h"
#include "attest/makecred.h"
#include "attest/node.h"
#include "attest/pcr.h"
#include "attest/tpm.h"
#include "swtpm.h"

#define MAX_TRACKED 64
#define MAX_MSG 8192

struct tracked_session {
  TPM2_HANDLE handle;
  bool salted_by_ek; /* tpmKey was a live EK handle and encryptedSalt was non-empty */
};

/* What the proxy saw; written by the proxy thread, read by the test after donjon's call returned. */
struct proxy_log {
  pthread_mutex_t mu;
  TPM2_HANDLE eks[MAX_TRACKED];
  size_t n_eks;
  struct tracked_session sessions[MAX_TRACKED];
  size_t n_sessions;
  unsigned start_sessions, salted_starts;
  unsigned quotes, quotes_salted, activations, activations_salted; /* successful ones */
  unsigned parse_errors;
  TPM2B_NAME ek_names[DJ_EK_KIND_COUNT]; /* the EKs' names, learnt outside the proxy (setup) */
  size_t n_ek_names;
  bool substitute_ek;   /* an interposer: the EK's public key changed in every response that gives it */
  unsigned substituted; /* responses changed so */
};

struct proxy {
  int listen_fd, ctrl_listen_fd;
  int port;         /* the proxy's pair: port (commands) and port + 1 (control) */
  int target_port;  /* swtpm's pair */
  char tcti[128];
  pthread_t cmd_thread, ctrl_thread;
  struct proxy_log log;
};

static struct swtpm sw;
static struct proxy px;
static struct dj_node node;

static bool handle_in(const TPM2_HANDLE *set, size_t n, TPM2_HANDLE h)
{
  for (size_t i = 0; i < n; i++)
    if (set[i] == h)
      return true;
  return false;
}

static void handle_drop(TPM2_HANDLE *set, size_t *n, TPM2_HANDLE h)
{
  for (size_t i = 0; i < *n; i++)
    if (set[i] == h) {
      set[i] = set[--*n];
      return;
    }
}

static struct tracked_session *session_find(struct proxy_log *l, TPM2_HANDLE h)
{
  for (size_t i = 0; i < l->n_sessions; i++)
    if (l->sessions[i].handle == h)
      return &l->sessions[i];
  return NULL;
}

static void session_drop(struct proxy_log *l, TPM2_HANDLE h)
{
  struct tracked_session *s = session_find(l, h);
  if (s != NULL)
    *s = l->sessions[--l->n_sessions];
}

/* What a command asked for, kept until its response comes back. */
struct pending {
  TPM2_CC code;
  bool endorsement_primary;
  TPM2_HANDLE persist_to;  /* EvictControl of an EK: the persistent handle it becomes (or 0) */
  TPM2_HANDLE read_handle; /* ReadPublic: of which object */
  bool salted_by_ek;
  bool auth_salted; /* Quote, ActivateCredential: a session of its authorization area is */
};

static void add_object(struct proxy_log *l, TPM2_HANDLE h, bool is_ek)
{
  handle_drop(l->eks, &l->n_eks, h); /* a reused transient handle is whatever was made last */
  if (is_ek && l->n_eks < MAX_TRACKED)
    l->eks[l->n_eks++] = h;
}

/* True when one session of the command's authorization area was salted with an EK. */
static bool auth_area_salted(struct proxy_log *l, const uint8_t *buf, size_t size, size_t off)
{
  UINT32 auth_size;
  if (Tss2_MU_UINT32_Unmarshal(buf, size, &off, &auth_size) != TSS2_RC_SUCCESS || auth_size > size - off) {
    l->parse_errors++;
    return false;
  }
  size_t end = off + auth_size;
  bool salted = false;
  while (off < end) {
    TPMS_AUTH_COMMAND a;
    if (Tss2_MU_TPMS_AUTH_COMMAND_Unmarshal(buf, end, &off, &a) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return false;
    }
    struct tracked_session *s = session_find(l, a.sessionHandle);
    if (s != NULL && s->salted_by_ek)
      salted = true;
  }
  return salted;
}

static void record_command(struct proxy_log *l, const uint8_t *buf, size_t size, struct pending *p)
{
  size_t off = 0;
  TPM2_ST tag;
  UINT32 cmd_size;
  memset(p, 0, sizeof *p);
  if (Tss2_MU_TPM2_ST_Unmarshal(buf, size, &off, &tag) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Unmarshal(buf, size, &off, &cmd_size) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2_CC_Unmarshal(buf, size, &off, &p->code) != TSS2_RC_SUCCESS) {
    l->parse_errors++;
    return;
  }
  TPM2_HANDLE h1, h2;
  switch (p->code) {
  case TPM2_CC_StartAuthSession: {
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS || /* tpmKey */
        Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h2) != TSS2_RC_SUCCESS) { /* bind */
      l->parse_errors++;
      return;
    }
    if (tag == TPM2_ST_SESSIONS) { /* ESYS sends none here, but skip an area if there is one */
      UINT32 auth_size;
      if (Tss2_MU_UINT32_Unmarshal(buf, size, &off, &auth_size) != TSS2_RC_SUCCESS || auth_size > size - off) {
        l->parse_errors++;
        return;
      }
      off += auth_size;
    }
    TPM2B_NONCE nonce;
    TPM2B_ENCRYPTED_SECRET salt;
    if (Tss2_MU_TPM2B_NONCE_Unmarshal(buf, size, &off, &nonce) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(buf, size, &off, &salt) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    l->start_sessions++;
    p->salted_by_ek = h1 != TPM2_RH_NULL && handle_in(l->eks, l->n_eks, h1) && salt.size > 0;
    if (p->salted_by_ek)
      l->salted_starts++;
    break;
  }
  case TPM2_CC_CreatePrimary:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    p->endorsement_primary = h1 == TPM2_RH_ENDORSEMENT;
    break;
  case TPM2_CC_FlushContext: /* the handle is a parameter, not in the handle area */
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    handle_drop(l->eks, &l->n_eks, h1);
    session_drop(l, h1);
    break;
  case TPM2_CC_ReadPublic:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &p->read_handle) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    break;
  case TPM2_CC_EvictControl: { /* auth, objectHandle; sessions; persistentHandle */
    UINT32 auth_size;
    TPM2_HANDLE persistent;
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h2) != TSS2_RC_SUCCESS ||
        Tss2_MU_UINT32_Unmarshal(buf, size, &off, &auth_size) != TSS2_RC_SUCCESS || auth_size > size - off ||
        (off += auth_size, Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &persistent)) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    /* the EK made persistent (attest/node.c) stays an EK at its new handle */
    if (handle_in(l->eks, l->n_eks, h2))
      p->persist_to = persistent;
    break;
  }
  case TPM2_CC_Quote:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS) { /* signHandle */
      l->parse_errors++;
      return;
    }
    p->auth_salted = auth_area_salted(l, buf, size, off);
    break;
  case TPM2_CC_ActivateCredential:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h1) != TSS2_RC_SUCCESS || /* activateHandle */
        Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h2) != TSS2_RC_SUCCESS) { /* keyHandle */
      l->parse_errors++;
      return;
    }
    p->auth_salted = auth_area_salted(l, buf, size, off);
    break;
  default:
    break;
  }
}

/* Change the public area at off (one bit of its key) and the name at name_off to match it, in
 * place (same sizes): what a bus interposer would hand out to learn the salts sent to "the EK". */
static void substitute_ek(struct proxy_log *l, uint8_t *buf, size_t size, size_t off, size_t name_off)
{
  size_t o = off, n = name_off;
  TPM2B_PUBLIC pub = { 0 };
  TPM2B_NAME name;
  dj_err err = { 0 };
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &o, &pub) != TSS2_RC_SUCCESS) {
    l->parse_errors++;
    return;
  }
  if (pub.publicArea.type == TPM2_ALG_RSA)
    pub.publicArea.unique.rsa.buffer[17] ^= 1;
  else
    pub.publicArea.unique.ecc.x.buffer[17] ^= 1;
  o = off;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, size, &o) != TSS2_RC_SUCCESS ||
      dj_tpm_public_name(&pub.publicArea, &name, &err) < 0 ||
      Tss2_MU_TPM2B_NAME_Marshal(&name, buf, size, &n) != TSS2_RC_SUCCESS) {
    l->parse_errors++;
    return;
  }
  l->substituted++;
}

static void record_response(struct proxy_log *l, uint8_t *buf, size_t size, const struct pending *p)
{
  size_t off = 0;
  TPM2_ST tag;
  UINT32 rsp_size;
  TPM2_RC rc;
  if (Tss2_MU_TPM2_ST_Unmarshal(buf, size, &off, &tag) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Unmarshal(buf, size, &off, &rsp_size) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Unmarshal(buf, size, &off, &rc) != TSS2_RC_SUCCESS) {
    l->parse_errors++;
    return;
  }
  if (rc != TPM2_RC_SUCCESS)
    return; /* TPM_RC_RETRY and friends: ESYS sends the command again */
  TPM2_HANDLE h;
  switch (p->code) {
  case TPM2_CC_Quote:
    l->quotes++;
    l->quotes_salted += p->auth_salted;
    break;
  case TPM2_CC_ActivateCredential:
    l->activations++;
    l->activations_salted += p->auth_salted;
    break;
  case TPM2_CC_StartAuthSession:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    session_drop(l, h);
    if (l->n_sessions < MAX_TRACKED)
      l->sessions[l->n_sessions++] = (struct tracked_session){ .handle = h, .salted_by_ek = p->salted_by_ek };
    break;
  case TPM2_CC_ReadPublic: { /* a persistent EK (swtpm_setup's, or the node's) is known by its name */
    TPM2B_PUBLIC pub = { 0 }; /* tss2-mu refuses to unmarshal into a TPM2B whose size is not 0 */
    TPM2B_NAME name = { 0 };
    UINT32 param_size;
    if (tag == TPM2_ST_SESSIONS && Tss2_MU_UINT32_Unmarshal(buf, size, &off, &param_size) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    size_t pub_off = off, name_off;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &off, &pub) != TSS2_RC_SUCCESS ||
        (name_off = off, Tss2_MU_TPM2B_NAME_Unmarshal(buf, size, &off, &name)) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    for (size_t i = 0; i < l->n_ek_names; i++)
      if (name.size == l->ek_names[i].size && memcmp(name.name, l->ek_names[i].name, name.size) == 0) {
        if (!handle_in(l->eks, l->n_eks, p->read_handle) && l->n_eks < MAX_TRACKED)
          l->eks[l->n_eks++] = p->read_handle;
        if (l->substitute_ek)
          substitute_ek(l, buf, size, pub_off, name_off);
      }
    break;
  }
  case TPM2_CC_EvictControl:
    if (p->persist_to != 0 && l->n_eks < MAX_TRACKED && !handle_in(l->eks, l->n_eks, p->persist_to))
      l->eks[l->n_eks++] = p->persist_to;
    break;
  case TPM2_CC_CreatePrimary:
  case TPM2_CC_Load:
  case TPM2_CC_LoadExternal:
    if (Tss2_MU_TPM2_HANDLE_Unmarshal(buf, size, &off, &h) != TSS2_RC_SUCCESS) {
      l->parse_errors++;
      return;
    }
    add_object(l, h, p->code == TPM2_CC_CreatePrimary && p->endorsement_primary);
    if (p->code == TPM2_CC_CreatePrimary && p->endorsement_primary && l->substitute_ek) {
      /* parameterSize, outPublic, creationData, creationHash, creationTicket, name */
      UINT32 param_size;
      TPM2B_PUBLIC pub = { 0 };
      TPM2B_CREATION_DATA cd = { 0 };
      TPM2B_DIGEST hash = { 0 };
      TPMT_TK_CREATION ticket;
      size_t pub_off;
      if (Tss2_MU_UINT32_Unmarshal(buf, size, &off, &param_size) != TSS2_RC_SUCCESS ||
          (pub_off = off, Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &off, &pub)) != TSS2_RC_SUCCESS ||
          Tss2_MU_TPM2B_CREATION_DATA_Unmarshal(buf, size, &off, &cd) != TSS2_RC_SUCCESS ||
          Tss2_MU_TPM2B_DIGEST_Unmarshal(buf, size, &off, &hash) != TSS2_RC_SUCCESS ||
          Tss2_MU_TPMT_TK_CREATION_Unmarshal(buf, size, &off, &ticket) != TSS2_RC_SUCCESS) {
        l->parse_errors++;
        return;
      }
      substitute_ek(l, buf, size, pub_off, off);
    }
    break;
  default:
    break;
  }
}

static bool read_full(int fd, uint8_t *buf, size_t n)
{
  while (n > 0) {
    ssize_t r = read(fd, buf, n);
    if (r <= 0)
      return false;
    buf += r;
    n -= (size_t) r;
  }
  return true;
}

static bool write_full(int fd, const uint8_t *buf, size_t n)
{
  while (n > 0) {
    ssize_t r = write(fd, buf, n);
    if (r <= 0)
      return false;
    buf += r;
    n -= (size_t) r;
  }
  return true;
}

/* One TPM message: the 10-byte header gives its size (via tss2-mu), then the rest. */
static bool read_message(int fd, uint8_t *buf, size_t *len)
{
  if (!read_full(fd, buf, 10))
    return false;
  size_t off = 2;
  UINT32 size;
  if (Tss2_MU_UINT32_Unmarshal(buf, 10, &off, &size) != TSS2_RC_SUCCESS || size < 10 || size > MAX_MSG)
    return false;
  if (!read_full(fd, buf + 10, size - 10))
    return false;
  *len = size;
  return true;
}

static int connect_local(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *command_proxy(void *arg)
{
  struct proxy *p = arg;
  static uint8_t buf[MAX_MSG];
  for (;;) {
    int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
      return NULL; /* the listening socket was shut down */
    int s = connect_local(p->target_port);
    size_t len;
    while (s >= 0 && read_message(c, buf, &len)) {
      struct pending pend;
      pthread_mutex_lock(&p->log.mu);
      record_command(&p->log, buf, len, &pend);
      pthread_mutex_unlock(&p->log.mu);
      if (!write_full(s, buf, len) || !read_message(s, buf, &len))
        break;
      pthread_mutex_lock(&p->log.mu); /* recorded before donjon sees the response */
      record_response(&p->log, buf, len, &pend);
      pthread_mutex_unlock(&p->log.mu);
      if (!write_full(c, buf, len))
        break;
    }
    if (s >= 0)
      close(s);
    close(c);
  }
}

/* The control channel (locality, init) is relayed byte for byte. */
static void *control_relay(void *arg)
{
  struct proxy *p = arg;
  uint8_t buf[4096];
  for (;;) {
    int c = accept4(p->ctrl_listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
      return NULL;
    int s = connect_local(p->target_port + 1);
    struct pollfd fds[2] = { { .fd = c, .events = POLLIN }, { .fd = s, .events = POLLIN } };
    while (s >= 0 && poll(fds, 2, -1) > 0) {
      int from = (fds[0].revents != 0) ? 0 : 1;
      ssize_t n = read(fds[from].fd, buf, sizeof buf);
      if (n <= 0 || !write_full(fds[1 - from].fd, buf, (size_t) n))
        break;
    }
    if (s >= 0)
      close(s);
    close(c);
  }
}

static int listen_on(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof a), 0, "proxy bind %d: %s", port, strerror(errno));
  cr_assert_eq(listen(fd, 4), 0);
  return fd;
}

static void proxy_start(struct proxy *p, int target_port)
{
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->log.mu, NULL);
  p->target_port = target_port;
  p->port = swtpm_free_port_pair();
  p->listen_fd = listen_on(p->port);
  p->ctrl_listen_fd = listen_on(p->port + 1);
  snprintf(p->tcti, sizeof p->tcti, "swtpm:host=127.0.0.1,port=%d", p->port);
  cr_assert_eq(pthread_create(&p->cmd_thread, NULL, command_proxy, p), 0);
  cr_assert_eq(pthread_create(&p->ctrl_thread, NULL, control_relay, p), 0);
}

static void proxy_stop(struct proxy *p)
{
  shutdown(p->listen_fd, SHUT_RDWR); /* accept() returns an error: the threads end */
  shutdown(p->ctrl_listen_fd, SHUT_RDWR);
  pthread_join(p->cmd_thread, NULL);
  pthread_join(p->ctrl_thread, NULL);
  close(p->listen_fd);
  close(p->ctrl_listen_fd);
}

static void setup(void)
{
  swtpm_create(&sw);
  swtpm_start(&sw);
  /* The EKs' names, from the TPM directly: a persistent handle is an EK when ReadPublic says so. */
  struct dj_tpm tpm;
  dj_err err = { 0 };
  TPM2B_NAME names[DJ_EK_KIND_COUNT];
  cr_assert_eq(dj_tpm_open(sw.tcti, &tpm, &err), 0, "%s", err.msg);
  for (int k = 0; k < DJ_EK_KIND_COUNT; k++) {
    ESYS_TR ek;
    TPM2B_PUBLIC pub;
    cr_assert_eq(dj_tpm_ek_create(&tpm, (enum dj_ek_kind) k, &ek, &pub, &err), 0, "%s", err.msg);
    dj_tpm_flush(&tpm, &ek);
    cr_assert_eq(dj_tpm_public_name(&pub.publicArea, &names[k], &err), 0, "%s", err.msg);
  }
  dj_tpm_close(&tpm);
  proxy_start(&px, sw.port);
  pthread_mutex_lock(&px.log.mu);
  memcpy(px.log.ek_names, names, sizeof names);
  px.log.n_ek_names = DJ_EK_KIND_COUNT;
  pthread_mutex_unlock(&px.log.mu);
  dj_node_defaults(&node);
  node.tcti = px.tcti;
  node.state_dir = sw.node_dir;
}

static void teardown(void)
{
  proxy_stop(&px);
  swtpm_destroy(&sw);
}

TestSuite(salt, .init = setup, .fini = teardown, .timeout = 300);

static struct proxy_log snapshot(void)
{
  pthread_mutex_lock(&px.log.mu);
  struct proxy_log l = px.log;
  pthread_mutex_unlock(&px.log.mu);
  return l;
}

static void quote_is_salted(enum dj_ak_kind ak_kind)
{
  node.ak_kind = ak_kind;
  TPML_PCR_SELECTION sel;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,23", &sel, &err), 0);
  uint8_t extra[32];
  RAND_bytes(extra, sizeof extra);
  struct dj_evidence ev;
  cr_assert_eq(dj_node_quote(&node, &sel, extra, sizeof extra, &ev, &err), 0, "%s", err.msg);
  dj_evidence_free(&ev);
  struct proxy_log l = snapshot();
  cr_assert_eq(l.parse_errors, 0, "every command and response through the proxy unmarshals");
  cr_assert_eq(l.quotes, 1, "donjon's quote went through the proxy (quotes %u, sessions %u, parse errors %u)", l.quotes, l.start_sessions, l.parse_errors);
  cr_assert_eq(l.quotes_salted, 1, "Quote's session was started with tpmKey = the EK and an encryptedSalt");
}

Test(salt, quote_session_is_salted_with_the_ek_rsa_ak)
{
  quote_is_salted(DJ_AK_RSA2048);
}

Test(salt, quote_session_is_salted_with_the_ek_ecc_ak)
{
  quote_is_salted(DJ_AK_ECC_P256);
}

static void activation_is_salted(enum dj_ek_kind ek_kind, enum dj_ak_kind ak_kind)
{
  node.ek_kind = ek_kind;
  node.ak_kind = ak_kind;
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  struct dj_tpm tpm;
  cr_assert_eq(dj_tpm_open(sw.tcti, &tpm, &err), 0, "%s", err.msg); /* directly: not part of what is checked */
  ESYS_TR ek;
  TPM2B_PUBLIC ekpub;
  cr_assert_eq(dj_tpm_ek_create(&tpm, ek_kind, &ek, &ekpub, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &ek);
  dj_tpm_close(&tpm);
  TPM2B_NAME name;
  cr_assert_eq(dj_tpm_public_name(&ak.pub.publicArea, &name, &err), 0);
  uint8_t secret[32];
  RAND_bytes(secret, sizeof secret);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  cr_assert_eq(dj_make_credential(&ekpub.publicArea, &name, secret, sizeof secret, &blob, &seed, &err), 0, "%s",
               err.msg);
  TPM2B_DIGEST got;
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got.buffer, got.size, &err), 0, "%s", err.msg);
  struct proxy_log l = snapshot();
  cr_assert_eq(l.parse_errors, 0);
  cr_assert_eq(l.activations, 1, "donjon's ActivateCredential went through the proxy (%u)", l.activations);
  cr_assert_eq(l.activations_salted, 1, "ActivateCredential's session was salted with tpmKey = the EK");
}

Test(salt, activation_session_is_salted_with_the_rsa2048_ek)
{
  activation_is_salted(DJ_EK_RSA2048, DJ_AK_RSA2048);
}

Test(salt, activation_session_is_salted_with_the_p256_ek)
{
  activation_is_salted(DJ_EK_ECC_P256, DJ_AK_ECC_P256);
}

Test(salt, activation_session_is_salted_with_the_p384_ek)
{
  activation_is_salted(DJ_EK_ECC_P384, DJ_AK_ECC_P256);
}

static void set_substitute(bool on)
{
  pthread_mutex_lock(&px.log.mu);
  px.log.substitute_ek = on;
  pthread_mutex_unlock(&px.log.mu);
}

static int quote_now(dj_err *err)
{
  TPML_PCR_SELECTION sel;
  uint8_t extra[32] = { 1 };
  struct dj_evidence ev;
  if (dj_pcr_selection_parse("sha256:0,23", &sel, err) < 0 || dj_node_quote(&node, &sel, extra, sizeof extra, &ev, err) < 0)
    return -1;
  dj_evidence_free(&ev);
  return 0;
}

/* An interposer hands out another EK public key (in CreatePrimary's and ReadPublic's responses)
 * after the node recorded its EK: the quote and the activation refuse it before salting any
 * session to it, and say why. */
static void substituted_ek_is_refused(enum dj_ek_kind ek_kind, enum dj_ak_kind ak_kind)
{
  node.ek_kind = ek_kind;
  node.ak_kind = ak_kind;
  dj_err err = { 0 };
  cr_assert_eq(quote_now(&err), 0, "%s", err.msg); /* the AK made, the EK recorded */
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  TPM2B_NAME name;
  cr_assert_eq(dj_tpm_public_name(&ak.pub.publicArea, &name, &err), 0);
  uint8_t secret[32] = { 3 };
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  struct dj_tpm tpm;
  cr_assert_eq(dj_tpm_open(sw.tcti, &tpm, &err), 0, "%s", err.msg);
  ESYS_TR ek;
  TPM2B_PUBLIC ekpub;
  cr_assert_eq(dj_tpm_ek_create(&tpm, ek_kind, &ek, &ekpub, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &ek);
  dj_tpm_close(&tpm);
  cr_assert_eq(dj_make_credential(&ekpub.publicArea, &name, secret, sizeof secret, &blob, &seed, &err), 0);

  set_substitute(true);
  struct proxy_log before = snapshot();
  cr_assert_eq(quote_now(&err), -1, "a quote salted to a substituted EK");
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "recorded"), "%s", err.msg);
  TPM2B_DIGEST got;
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), -1, "an activation salted to a substituted EK");
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  struct proxy_log after = snapshot();
  cr_assert_eq(after.parse_errors, 0);
  cr_assert_gt(after.substituted, before.substituted, "the proxy substituted the EK");
  cr_assert_eq(after.start_sessions, before.start_sessions, "no session was started with the substituted EK");
  cr_assert_eq(after.quotes, before.quotes);
  cr_assert_eq(after.activations, before.activations);

  set_substitute(false); /* the interposer gone: the same EK, the same AK */
  cr_assert_eq(quote_now(&err), 0, "%s", err.msg);
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got.buffer, got.size, &err), 0, "%s", err.msg);
}

Test(salt, a_substituted_rsa2048_ek_is_refused)
{
  substituted_ek_is_refused(DJ_EK_RSA2048, DJ_AK_RSA2048);
}

Test(salt, a_substituted_p256_ek_is_refused)
{
  substituted_ek_is_refused(DJ_EK_ECC_P256, DJ_AK_ECC_P256);
}

Test(salt, a_substituted_p384_ek_is_refused)
{
  substituted_ek_is_refused(DJ_EK_ECC_P384, DJ_AK_ECC_P256);
}

/* An interposer there from the start: the EK handed out is not the one the certificate in NV
 * names, so the node neither records it nor makes an AK under it. */
Test(salt, a_substituted_ek_at_first_use_is_refused_by_its_certificate)
{
  set_substitute(true);
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "certificate"), "%s", err.msg);
  char rec[sizeof sw.node_dir + 32];
  snprintf(rec, sizeof rec, "%s/ek-rsa2048.pub", sw.node_dir);
  cr_assert_neq(access(rec, F_OK), 0, "a substituted EK was recorded");
  set_substitute(false);
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  cr_assert_eq(access(rec, F_OK), 0, "the EK is recorded once checked against its certificate");
}
