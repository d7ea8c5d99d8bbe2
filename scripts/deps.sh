#!/usr/bin/env bash
# Install the Debian packages crest needs, only those missing.
#   scripts/deps.sh          to build and run crest
#   scripts/deps.sh --test   also what the tests need
set -eu
pkgs=(gcc make libc6-dev libisal-dev)
if [ "${1:-}" = --test ]; then
	pkgs+=(libcmocka-dev clang libclang-rt-14-dev bsdutils procps util-linux shellcheck python3 man-db)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "crest: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "crest: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
