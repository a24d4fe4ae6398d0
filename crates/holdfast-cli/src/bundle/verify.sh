#!/usr/bin/env bash
# Verifies this evidence bundle with standard tools: sha256sum, awk and OpenSSL 3.
# Lines are hashed in batches (each written to a file of its own, then one sha256sum over many
# files), so 100,000 events take seconds, not one process per line.
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C
fail() { echo "FAILED: $*" >&2; exit 1; }
# Many small files: in memory where the system offers it.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then work=$(mktemp -d -p /dev/shm); else work=$(mktemp -d); fi
trap 'rm -rf "$work"' EXIT

# Reads lines on stdin; prints "N DIGEST" for line N (the SHA-256 of the line without its newline).
hash_lines() {
  local dir="$work/$1"
  mkdir "$dir"
  awk -v dir="$dir" '{ f = dir "/" NR; printf "%s", $0 > f; close(f) }'
  find "$dir" -type f -print0 | xargs -0 -r -P 2 -n 20000 sha256sum | awk '{ n = $2; sub(/.*\//, "", n); print n, $1 }'
}

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
# Both batches of hashes at once (step 4's too), on every core there is.
hash_lines events < events.canonical > "$work/events.txt" &
events_hashed=$!
awk -F'\t' '{ printf "%s%s\n", $2, $3 }' chain.tsv | hash_lines links > "$work/links.txt"
problem=$(awk -F'\t' -v links="$work/links.txt" -v seq="$seq" -v prev="$prev" -v end_seq="$end_seq" -v end_hash="$end_hash" '
  BEGIN { while ((getline l < links) > 0) { split(l, a, " "); got[a[1]] = a[2] } }
  bad { next }
  {
    seq++
    if ($1 != seq) { bad = "chain.tsv: expected event " seq ", found " $1; next }
    if ($2 != prev) { bad = "event " $1 " does not follow event " ($1 - 1); next }
    if (got[NR] != $4) { bad = "event " $1 ": hash does not match"; next }
    prev = $4
  }
  END {
    if (!bad && (seq != end_seq || prev != end_hash)) bad = "chain.tsv does not end at the signed checkpoint"
    print bad
  }' chain.tsv)
[ -z "$problem" ] || fail "$problem"

echo "4. every event in this bundle is in that chain"
wait "$events_hashed" || fail "could not hash events.canonical"
result=$(awk -F'\t' -v events="$work/events.txt" '
  BEGIN { while ((getline l < events) > 0) { split(l, a, " "); digest[a[1]] = a[2] } }
  FILENAME == "chain.tsv" { in_chain[$1] = $3; next }
  bad { next }
  {
    s = $0; sub(/^\[/, "", s); sub(/,.*/, "", s)
    if (!(s in in_chain) || in_chain[s] != digest[FNR]) { bad = "event " s " in events.canonical does not match the chain"; next }
    n++
  }
  END { if (bad) print "FAIL " bad; else print "OK " n + 0 }' chain.tsv events.canonical)
case "$result" in
  OK*) n=${result#OK } ;;
  *) fail "${result#FAIL }" ;;
esac

echo "OK: $n events verified against the checkpoint of event $end_seq"
