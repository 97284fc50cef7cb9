#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs it: formatting,
# clippy, and every test in the workspace (unit tests and end-to-end tests that start the real
# `logq` binary). Used by the README and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/logq-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental state is useless for one-off CI builds and costs gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# librdkafka (built from source by rdkafka's cmake-build) needs cmake and curl's headers;
# kcat is an outside Kafka producer for the third-party record tests.
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] || need_apt+=(libcurl4-openssl-dev)
# librdkafka is built with TLS and SASL (OpenSSL) support.
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
# The web UI's browser tests: Debian's Chromium (never a browser downloaded by a test tool)
# driven by playwright-core from npm.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# tansu, a real Kafka-protocol broker, for the Kafka group-membership tests (static membership,
# restart within seconds). Built from crates.io once into ~/.cargo/bin: 19 min on a loaded
# 2-core machine (measured 2026-12-06, niced, beside other builds). LOGQ_SKIP_TANSU=1 skips it
# (those tests then skip themselves).
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${LOGQ_SKIP_TANSU:-}" ]; then
  if ! command -v tansu >/dev/null 2>&1; then
    echo "== installing tansu (Kafka-protocol broker for the tests)"
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR}/tansu-install" cargo install tansu --version 0.6.0 --features dynostore --locked
  fi
  export LOGQ_REQUIRE_TANSU=1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The object-store contract tests run against a real S3-compatible server (moto) too.
if [ -z "${LOGQ_TEST_S3_ENDPOINT:-}" ]; then
  s3_env="$(scripts/s3-server.sh start)"   # fails the run if the server cannot start
  eval "$s3_env"
  trap 'scripts/s3-server.sh stop' EXIT
fi
export LOGQ_TEST_S3_ENDPOINT

echo "== cargo test"
log="${LOGQ_TEST_LOG:-$(mktemp)}"
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -E '^test result:' "$log" | awk '{n+=$4} END {print n+0}')
failed=$(grep -E '^test result:' "$log" | awk '{n+=$6} END {print n+0}')
echo "tests: $passed passed, $failed failed"

# The web UI in headless Chromium against the `logq` binary the tests above built.
echo "== ui tests (headless chromium)"
if [ ! -d ui/tests/node_modules/playwright-core ]; then
  (cd ui/tests && npm ci --no-audit --no-fund)
fi
ui_status=0
cargo build --locked --bin logq
LOGQ_BIN="$CARGO_TARGET_DIR/debug/logq" node ui/tests/run.mjs || ui_status=$?
[ "$status" -eq 0 ] && status=$ui_status
exit "$status"
