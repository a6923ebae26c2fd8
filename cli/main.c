/* donjon: the OCI runtime. Commands that need TPM, TLS or archive libraries run in donjon-agent
 * (cli/agent.c), which donjon execs; see cli/cli.h for why. */
#include "cli/cli.h"
#include "cli/cmd_lifecycle.h"

static const struct dj_cli_command commands[] = {
  { "run", dj_cmd_run, "create and run a container from an OCI bundle", false },
  { "create", dj_cmd_create, "create a container from an OCI bundle; its init waits for start", false },
  { "start", dj_cmd_start, "let a created container's init run the process", false },
  { "state", dj_cmd_state, "print a container's OCI state JSON", false },
  { "kill", dj_cmd_kill, "send a signal to a container's init (--all: every process)", false },
  { "delete", dj_cmd_delete, "remove a stopped container (--force: kill it first)", false },
  { "list", dj_cmd_list, "list the containers (--format table|json)", false },
  { "exec", dj_cmd_exec, "run a new process in a running container", false },
  { "ps", dj_cmd_ps, "list the processes of a container (--format table|json)", false },
  { "pause", dj_cmd_pause, "freeze every process of a container", false },
  { "resume", dj_cmd_resume, "thaw a paused container", false },
  { "update", dj_cmd_update, "change the resources of a running container", false },
  { "spec", dj_cmd_spec, "write a config.json (default or confidential profile)", false },
  { "features", dj_cmd_features, "print what this runtime implements (runtime-spec features JSON)", false },
  /* donjon-agent's commands: { "NAME", NULL, "SUMMARY", true } */
  { "image", NULL, "encrypted OCI images: inspect, encrypt, decrypt, unpack, bundle", true },
  { "tpm", NULL, "TPM evidence: info, quote, check-quote, extend", true },
  { "node", NULL, "enrol this node's TPM with the verifier (node enroll)", true },
  { "attest", NULL, "attest to the verifier and receive the keys it releases", true },
  { "launch", NULL, "run an encrypted image in the confidential jail once the verifier releases its keys", true },
};

int main(int argc, char **argv)
{
  return dj_cli_main(argc, argv, commands, sizeof commands / sizeof commands[0], false);
}
