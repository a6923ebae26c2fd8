# A whole sovereign cloud on one machine, for scripts/demo and bench/launch/run (sourced, POSIX sh):
# a throw-away "manufacturer" CA and a swtpm whose EK it certified, donjon-verifier on 127.0.0.1
# with its own TLS CA and operator/tenant/auditor certificates, the operator's policy and inventory,
# and the node enrolled through that inventory. Everything lives in $SV (a directory the caller
# made); sv_down stops what sv_up started, by PID.
#
# Needs: $BUILD (the meson build directory), swtpm, swtpm_setup, swtpm_localca, openssl, jq.

sv_say() { [ -n "${SV_QUIET:-}" ] || printf '%s\n' "$*"; }

# A free loopback port P with P+1 free too (swtpm's server and control ports).
sv_port_pair() {
  python3 - <<'EOF'
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
EOF
}

sv_tpm_up() {
  mkdir -p "$SV/tpm/state" "$SV/tpm/ca" "$SV/node"
  # swtpm_localca as the manufacturer: its CA lives in $SV, never in /var/lib/swtpm-localca
  cat > "$SV/tpm/localca.conf" <<EOF
statedir = $SV/tpm/ca
signingkey = $SV/tpm/ca/signkey.pem
issuercert = $SV/tpm/ca/issuercert.pem
certserial = $SV/tpm/ca/certserial
EOF
  printf -- '--platform-manufacturer donjon-demo\n--platform-version 2.1\n--platform-model swtpm\n' > "$SV/tpm/localca.options"
  cat > "$SV/tpm/swtpm_setup.conf" <<EOF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $SV/tpm/localca.conf
create_certs_tool_options = $SV/tpm/localca.options
active_pcr_banks = sha256
EOF
  swtpm_setup --tpm2 --tpmstate "$SV/tpm/state" --create-ek-cert --create-platform-cert \
    --config "$SV/tpm/swtpm_setup.conf" --overwrite >/dev/null 2>&1
  SV_TPM_PORT=$(sv_port_pair)
  swtpm socket --tpm2 --tpmstate dir="$SV/tpm/state" --flags not-need-init,startup-clear \
    --server type=tcp,port="$SV_TPM_PORT",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((SV_TPM_PORT + 1)),bindaddr=127.0.0.1 >"$SV/tpm/swtpm.log" 2>&1 &
  SV_TPM_PID=$!
  echo "$SV_TPM_PID" > "$SV/tpm/pid"
  export DONJON_TPM="swtpm:host=127.0.0.1,port=$SV_TPM_PORT"
  export TSS2_LOG=all+NONE
  for _ in $(seq 100); do
    "$BUILD/cli/donjon" tpm info --json >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "sovereign.sh: swtpm did not answer on port $SV_TPM_PORT" >&2
  return 1
}

sv_verifier_up() {
  sv_v="$SV/verifier"
  mkdir -p "$sv_v"
  (
    cd "$sv_v"
    ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
             -days 2 -subj "/CN=$2" 2>/dev/null; }
    leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
               -subj "$2" 2>/dev/null && printf '%s\n' "$3" > "$1.ext" &&
             openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 \
               -extfile "$1.ext" 2>/dev/null; }
    ca ca "donjon demo verifier CA"
    leaf server "/CN=verifier" "subjectAltName=IP:127.0.0.1"
    leaf operator "/O=donjon/OU=operator/CN=operator" "basicConstraints=CA:FALSE"
    leaf tenant "/O=donjon/OU=tenant/CN=acme" "basicConstraints=CA:FALSE"
    leaf auditor "/O=donjon/OU=auditor/CN=auditor" "basicConstraints=CA:FALSE"
  )
  cat > "$sv_v/config.json" <<EOF
{"listen": "127.0.0.1:0", "workers": 2,
 "tls": {"certificate": "$sv_v/server.pem", "key": "$sv_v/server.key", "client_ca": "$sv_v/ca.pem"},
 "database": "$sv_v/db.sqlite", "master_key": "$sv_v/master.key", "audit_key": "$sv_v/audit.key"}
EOF
  "$BUILD/verifier/donjon-verifier" init --config "$sv_v/config.json" > "$sv_v/audit.pub"
  # serve writes its port on fd 3 once it listens
  rm -f "$sv_v/port"
  mkfifo "$sv_v/port.fifo"
  "$BUILD/verifier/donjon-verifier" serve --config "$sv_v/config.json" --ready-fd 3 3>"$sv_v/port.fifo" \
    2>"$sv_v/serve.log" &
  SV_VERIFIER_PID=$!
  echo "$SV_VERIFIER_PID" > "$sv_v/pid"
  read -r SV_PORT < "$sv_v/port.fifo" || SV_PORT=""
  rm -f "$sv_v/port.fifo"
  [ -n "$SV_PORT" ] || { echo "sovereign.sh: donjon-verifier did not start: $(cat "$sv_v/serve.log")" >&2; return 1; }
  export DONJON_VERIFIER="https://127.0.0.1:$SV_PORT" DONJON_VERIFIER_CA="$sv_v/ca.pem"
}

# donjon-verifier as ROLE (operator, tenant, auditor): sv_admin ROLE ARGS...
sv_admin() {
  sv_role=$1
  shift
  "$BUILD/verifier/donjon-verifier" "$@" --verifier "$DONJON_VERIFIER" --ca "$DONJON_VERIFIER_CA" \
    --cert "$SV/verifier/$sv_role.pem" --key "$SV/verifier/$sv_role.key"
}

# The operator: its policy (the manufacturer's CA, jurisdiction FR, site FR-PAR-1, class demo-1 with
# swtpm's boot PCRs 0-7, all zeros: no firmware extends them), and the inventory naming this node's EK.
sv_operator_setup() {
  sv_zeros=0000000000000000000000000000000000000000000000000000000000000000
  cat > "$SV/operator.json" <<EOF
{"kind": "operator",
 "hardware": {"ek_roots": ["$SV/tpm/ca/swtpm-localca-rootca-cert.pem"],
              "ek_intermediates": ["$SV/tpm/ca/issuercert.pem"],
              "manufacturers": {"id:00001014": {}}, "inventory_required": true, "require_clock_safe": false},
 "jurisdictions": ["FR"],
 "sites": {"FR-PAR-1": "FR"},
 "hardware_classes": {"demo-1": {"boot": {"sha256": {
   "0": "$sv_zeros", "1": "$sv_zeros", "2": "$sv_zeros", "3": "$sv_zeros",
   "4": "$sv_zeros", "5": "$sv_zeros", "6": "$sv_zeros", "7": "$sv_zeros"}}}}}
EOF
  sv_admin operator policy set "$SV/operator.json" >/dev/null
  sv_ek=$("$BUILD/cli/donjon" tpm info --json | jq -r '.ek_certificates[] | select(.kind == "rsa2048") | .ek_digest')
  printf '{"entries": [{"ek_digest": "%s", "name": "rack-7-node-3", "site": "FR-PAR-1", "jurisdiction": "FR", "hardware_class": "demo-1"}]}\n' \
    "$sv_ek" > "$SV/inventory.json"
  sv_admin operator inventory import "$SV/inventory.json" >/dev/null
  SV_EK_DIGEST=$sv_ek
}

sv_node_enroll() {
  "$BUILD/cli/donjon" node enroll --state-dir "$SV/node" --ak ecc-p256 --name rack-7-node-3
}

sv_up() {
  sv_tpm_up && sv_verifier_up && sv_operator_setup
}

sv_down() {
  for sv_f in "$SV/verifier/pid" "$SV/tpm/pid"; do
    [ -f "$sv_f" ] || continue
    sv_pid=$(cat "$sv_f")
    kill "$sv_pid" 2>/dev/null && wait "$sv_pid" 2>/dev/null
    rm -f "$sv_f"
  done
  return 0
}
