#!/usr/bin/env bash
# arm64 under user-mode emulation (there is no arm64 hardware in CI): checks
# that every hand-encoded WORD in simd/*_arm64.s disassembles to the
# instruction its comment names, then runs the short tests of every package
# as arm64 binaries under qemu-aarch64-static, with the neon tier and with
# -tags purego. Emulation checks correctness only; it says nothing about
# speed. Called by .ci/run; runs on its own too.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-aarch64-static >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q qemu-user-static
fi
qemu=(-exec qemu-aarch64-static)

echo "== arm64: WORD encodings match their comments"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOARCH=arm64 go test -c -o "$tmp/simd.test" ./simd
go tool objdump -gnu -s 'NEON' "$tmp/simd.test" >"$tmp/dis.txt"
bad=0 n=0
for f in simd/*_arm64.s; do
	base=$(basename "$f")
	while IFS=: read -r line text; do
		# The comment gives the instruction in Arm syntax; the disassembler
		# writes "#0.0" as "#0".
		want=$(sed -E 's|.*//[[:space:]]*||; s|#0\.0|#0|; s|[[:space:]]+| |g; s| $||' <<<"$text")
		got=$(grep -P "^\s+\Q$base\E:$line\t" "$tmp/dis.txt" | head -1 |
			sed -E 's|.*// ||; s|[[:space:]]+$||; s|[[:space:]]+| |g' || true)
		n=$((n + 1))
		if [[ "$got" != "$want" ]]; then
			echo "$f:$line: comment says '$want', disassembles to '$got'"
			bad=1
		fi
	done < <(grep -nP '^\s*WORD\s' "$f" || true)
done
echo "$n WORDs checked"
((bad == 0))

echo "== arm64 tests under qemu (-short; neon tier)"
GOARCH=arm64 go test -short "${qemu[@]}" ./...

echo "== arm64 tests under qemu, -tags purego (generic tier only)"
GOARCH=arm64 go test -short -tags purego "${qemu[@]}" ./simd ./runtime
