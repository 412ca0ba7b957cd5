#!/bin/sh
# Corral agent installer, served by the gateway at /install.sh. POSIX sh; needs curl and openssl.
#
#   curl ... | sudo sh -s -- --token T --ca-fingerprint FP [--name N] [--tag k=v]... [--proxy URL]
#
# What it does, and what it checks (docs/install.md):
#   1. fetches the gateway's CA and refuses it unless its SHA-256 fingerprint is the one given;
#   2. from then on talks to the gateway only over TLS verified against that CA (curl --cacert);
#   3. downloads the agent for this platform and checks its size and SHA-256 against the manifest,
#      and its Ed25519 signature against the gateway's artifact-signing key (openssl 3; with an older
#      openssl the already SHA-256-checked agent verifies the signature itself);
#   4. installs it as $PREFIX/opt/corral/bin/corral-agent, registers it with the join token, and
#      installs and starts the service (systemd, launchd) unless --no-service.
set -eu

GATEWAY="__CORRAL_GATEWAY_URL__"
TOKEN="${CORRAL_JOIN_TOKEN:-}"
FINGERPRINT=""
NAME=""
TAGS=""
PROXY="${HTTPS_PROXY:-${https_proxy:-}}"
PREFIX=""
SERVICE=1

say() { printf 'corral-install: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
usage() {
  cat <<USAGE
Install the Corral agent from $GATEWAY.

  sh install.sh --token T --ca-fingerprint SHA256 [options]

  --token T             join token (or CORRAL_JOIN_TOKEN)
  --ca-fingerprint FP   SHA-256 fingerprint of the gateway CA, as \`corral server token create\` prints it
  --name NAME           server name (default: the host name)
  --tag KEY=VALUE       a tag for the server; repeat for more
  --proxy URL           HTTP proxy for the download and the agent (default: \$HTTPS_PROXY)
  --gateway URL         gateway URL (default: $GATEWAY)
  --prefix DIR          install under DIR (DIR/opt/corral/bin, DIR/etc/corral) instead of /
  --no-service          do not install the system service; print how to run the agent instead
  -h, --help            this help
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN="${2:?--token needs a value}"; shift 2 ;;
    --ca-fingerprint) FINGERPRINT="${2:?--ca-fingerprint needs a value}"; shift 2 ;;
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --tag) TAGS="$TAGS
${2:?--tag needs KEY=VALUE}"; shift 2 ;;
    --proxy) PROXY="${2:?--proxy needs a URL}"; shift 2 ;;
    --gateway) GATEWAY="${2:?--gateway needs a URL}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --no-service) SERVICE=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[ -n "$TOKEN" ] || die "a join token is required: --token T (create one with \`corral server token create\`)"
[ -n "$FINGERPRINT" ] || die "--ca-fingerprint is required (\`corral server token create\` prints it)"
command -v curl >/dev/null 2>&1 || die "curl is not installed; install it and run again"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed; install it and run again"
if [ -z "$PREFIX" ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo sh ...), or pass --prefix DIR --no-service to install for this user"
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "unsupported OS $(uname -s): see docs/install.md for Windows" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "unsupported CPU $(uname -m)" ;;
esac
platform="$os-$arch"

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t corral)"
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ -n "$PROXY" ]; then
  export HTTPS_PROXY="$PROXY"
  export https_proxy="$PROXY"
fi
fetch() { curl -fsS --proto '=https' --tlsv1.3 --retry 2 "$@"; }

# 1. The CA, fetched unverified and accepted only with the expected fingerprint.
fetch -k "$GATEWAY/api/v1/ca" -o "$tmp/ca.pem" || die "cannot reach $GATEWAY (proxy? --proxy URL)"
got="$(openssl x509 -in "$tmp/ca.pem" -noout -fingerprint -sha256 | sed 's/^[^=]*=//' | tr -d ':' | tr 'abcdef' 'ABCDEF')"
want="$(printf '%s' "$FINGERPRINT" | tr -d ': ' | tr 'abcdef' 'ABCDEF')"
[ "$got" = "$want" ] || die "the gateway's CA has fingerprint $got, not $want: wrong gateway, or the connection is intercepted"

# 2. From here on, only TLS verified against that CA.
pinned() { fetch --cacert "$tmp/ca.pem" "$@"; }
pinned "$GATEWAY/api/v1/agent/artifacts/$platform.manifest" -o "$tmp/manifest" ||
  die "the gateway has no agent for $platform (ask its operator to build one: npm run build:agent)"
field() { sed -n "s/^$1=//p" "$tmp/manifest"; }
version="$(field version)"
sha256="$(field sha256)"
size="$(field size)"
field signature >"$tmp/signature.b64"
pinned "$GATEWAY/api/v1/agent/artifacts/signing-key" -o "$tmp/signing-key.pem"
say "downloading corral-agent $version for $platform ($size bytes)"
pinned "$GATEWAY/api/v1/agent/artifacts/$platform" -o "$tmp/corral-agent"

# 3. Size, SHA-256, signature.
[ "$(wc -c <"$tmp/corral-agent" | tr -d ' ')" = "$size" ] || die "download is not $size bytes"
if command -v sha256sum >/dev/null 2>&1; then
  have="$(sha256sum "$tmp/corral-agent" | cut -d' ' -f1)"
elif command -v shasum >/dev/null 2>&1; then
  have="$(shasum -a 256 "$tmp/corral-agent" | cut -d' ' -f1)"
else
  have="$(openssl dgst -sha256 -r "$tmp/corral-agent" | cut -d' ' -f1)"
fi
[ "$have" = "$sha256" ] || die "SHA-256 mismatch: got $have, expected $sha256"
printf 'corral-agent-artifact-v1\nplatform=%s\nversion=%s\nsha256=%s\nsize=%s\n' "$platform" "$version" "$sha256" "$size" >"$tmp/signed"
openssl base64 -d -A -in "$tmp/signature.b64" -out "$tmp/signature.bin"
chmod 0755 "$tmp/corral-agent"
if openssl pkeyutl -help 2>&1 | grep -q -- '-rawin'; then
  openssl pkeyutl -verify -pubin -inkey "$tmp/signing-key.pem" -rawin -in "$tmp/signed" -sigfile "$tmp/signature.bin" >/dev/null ||
    die "bad signature on the agent download"
  say "signature verified (openssl)"
else
  "$tmp/corral-agent" verify-artifact --file "$tmp/corral-agent" --platform "$platform" --version "$version" \
    --signature "$(cat "$tmp/signature.b64")" --key "$tmp/signing-key.pem" >/dev/null ||
    die "bad signature on the agent download"
  say "signature verified (by the SHA-256-checked agent; this openssl cannot verify Ed25519)"
fi

# 4. Install, register, start.
bindir="$PREFIX/opt/corral/bin"
config="$PREFIX/etc/corral/agent.json"
mkdir -p "$bindir"
cp "$tmp/corral-agent" "$bindir/corral-agent.tmp"
chmod 0755 "$bindir/corral-agent.tmp"
mv -f "$bindir/corral-agent.tmp" "$bindir/corral-agent"
if [ -z "$PREFIX" ] && [ -d /usr/local/bin ]; then ln -sf /opt/corral/bin/corral-agent /usr/local/bin/corral-agent; fi
say "installed $bindir/corral-agent ($version)"

if [ -f "$config" ]; then
  say "$config exists: this machine is registered already; keeping it"
else
  set -- register --gateway "$GATEWAY" --ca-fingerprint "$FINGERPRINT" --config "$config"
  [ -z "$NAME" ] || set -- "$@" --name "$NAME"
  [ -z "$PROXY" ] || set -- "$@" --proxy "$PROXY"
  set -f
  old_ifs="$IFS"
  IFS='
'
  for t in $TAGS; do set -- "$@" --tag "$t"; done
  IFS="$old_ifs"
  set +f
  CORRAL_JOIN_TOKEN="$TOKEN" "$bindir/corral-agent" "$@"
fi

if [ "$SERVICE" = 1 ]; then
  "$bindir/corral-agent" install --config "$config" --bin "$bindir/corral-agent"
else
  say "not installing a service (--no-service); run the agent with:"
  say "  $bindir/corral-agent run --config $config"
fi
