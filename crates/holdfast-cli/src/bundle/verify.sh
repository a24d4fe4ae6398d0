#!/usr/bin/env bash
# Verifies this evidence bundle with standard tools: sha256sum, awk and OpenSSL 3.
set -euo pipefail
cd "$(dirname "$0")"
fail() { echo "FAILED: $*" >&2; exit 1; }

echo "1. files are unaltered"
sha256sum --quiet -c SHA256SUMS || fail "a file differs from SHA256SUMS"
openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null \
  || fail "SHA256SUMS is not signed by public-key.pem"

echo "2. the checkpoint is signed by the installation's key"
openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.msg -sigfile checkpoint.sig >/dev/null \
  || fail "checkpoint.sig does not verify"
end_seq=$(sed -n 2p checkpoint.msg); end_hash=$(sed -n 3p checkpoint.msg)
if [ -f anchor.msg ]; then
  openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in anchor.msg -sigfile anchor.sig >/dev/null \
    || fail "anchor.sig does not verify"
  prev=$(sed -n 3p anchor.msg); seq=$(sed -n 2p anchor.msg)
else
  prev=0000000000000000000000000000000000000000000000000000000000000000; seq=0
fi

echo "3. every event links to the one before, from the anchor to the checkpoint"
while IFS=$'\t' read -r s p d h; do
  seq=$((seq + 1))
  [ "$s" = "$seq" ] || fail "chain.tsv: expected event $seq, found $s"
  [ "$p" = "$prev" ] || fail "event $s does not follow event $((s - 1))"
  got=$(printf '%s%s' "$p" "$d" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$h" ] || fail "event $s: hash does not match"
  prev=$h
done < chain.tsv
[ "$seq" = "$end_seq" ] && [ "$prev" = "$end_hash" ] || fail "chain.tsv does not end at the signed checkpoint"

echo "4. every event in this bundle is in that chain"
n=0
while IFS= read -r line; do
  s=${line#[}; s=${s%%,*}
  d=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
  awk -F'\t' -v s="$s" -v d="$d" '$1 == s && $3 == d { found = 1 } END { exit !found }' chain.tsv \
    || fail "event $s in events.canonical does not match the chain"
  n=$((n + 1))
done < events.canonical

echo "OK: $n events verified against the checkpoint of event $end_seq"
