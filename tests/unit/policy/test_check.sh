#!/bin/sh
# donjon-verifier policy check: summaries of valid documents (exit 0), every error with its JSON
# path (exit 1), usage (exit 2). Usage: test_check.sh VERIFIER FIXTURE_DIR
set -u
V=$1
F=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$V" policy check "$F/demo-operator.json" >"$tmp/out" 2>"$tmp/err" || fail "demo operator refused: $(cat "$tmp/err")"
grep -qx '  site FR-PAR-1 in FR' "$tmp/out" || fail "operator summary: $(cat "$tmp/out")"
grep -qx '  TPM manufacturer id:49465800: firmware >= 0, except 1074790408' "$tmp/out" || fail "operator firmware summary"
grep -qx '  hardware class std-1: boot PCRs 0-7 in sha256' "$tmp/out" || fail "class summary: $(cat "$tmp/out")"
"$V" policy check "$F/demo-tenant.json" >"$tmp/out" 2>"$tmp/err" || fail "demo tenant refused: $(cat "$tmp/err")"
grep -qx 'key acme-db: released when all of' "$tmp/out" || fail "tenant summary: $(cat "$tmp/out")"
grep -qx '  site matches: FR-PAR-\*' "$tmp/out" || fail "tenant site summary"

cat >"$tmp/bad.json" <<'JSON'
{"kind": "tenant", "tenant": "t", "tenants": 1,
 "keys": {"k": {"jurisdiction": ["FR"], "sites": ["*"], "hardware_classes": ["c"], "max_evidence_age": 5,
                "workloads": [{"manifest": "sha256:00", "profile": "p", "config": {"digest": "sha256:00"}}]}}}
JSON
"$V" policy check "$tmp/bad.json" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "bad document: exit status"
cat >"$tmp/want" <<EOT
donjon-verifier: $tmp/bad.json: tenants: unknown property
donjon-verifier: $tmp/bad.json: keys.k.jurisdiction: unknown property
donjon-verifier: $tmp/bad.json: keys.k.jurisdictions: missing
donjon-verifier: $tmp/bad.json: keys.k.workloads[0].manifest: expected sha256:<64 lower-case hex digits>
donjon-verifier: $tmp/bad.json: keys.k.workloads[0].config.digest: expected sha256:<64 lower-case hex digits>
EOT
diff -u "$tmp/want" "$tmp/err" || fail "bad document: errors"
[ -s "$tmp/out" ] && fail "bad document: printed a summary"

# a class pinning a subset of PCR 0-7 (the demo before the parser required all eight) is refused
z=0000000000000000000000000000000000000000000000000000000000000000
cat >"$tmp/subset.json" <<JSON
{"kind": "operator", "hardware": {"ek_roots": ["/etc/r.pem"], "manufacturers": {"id:53544D20": {}}},
 "jurisdictions": ["FR"], "sites": {"FR-PAR-1": "FR"},
 "hardware_classes": {"std-1": {"boot": {"sha256": {"0": "$z", "7": "$z"}}}}}
JSON
"$V" policy check "$tmp/subset.json" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "subset: exit status"
echo "donjon-verifier: $tmp/subset.json: hardware_classes.std-1.boot.sha256: PCR 1, 2, 3, 4, 5, 6 missing (the boot reference values are PCR 0-7)" >"$tmp/want"
diff -u "$tmp/want" "$tmp/err" || fail "subset: errors"
[ -s "$tmp/out" ] && fail "subset: printed a summary"

printf '{"kind": 3}' >"$tmp/kind.json"
"$V" policy check "$tmp/kind.json" 2>"$tmp/err"
[ $? -eq 1 ] || fail "kind: exit status"
grep -q "kind: expected a string, got integer" "$tmp/err" || fail "kind: $(cat "$tmp/err")"
printf '{"kind": ' >"$tmp/trunc.json"
"$V" policy check "$tmp/trunc.json" 2>/dev/null
[ $? -eq 1 ] || fail "truncated JSON: exit status"
"$V" policy check 2>/dev/null
[ $? -eq 2 ] || fail "usage: exit status"
"$V" --help | grep -q "policy check FILE" || fail "--help does not list policy check"
"$V" --help | grep -q "serve --config FILE" || fail "--help does not list serve"
echo ok
