#!/usr/bin/env bash
# Installs the Debian packages that building, running and testing Sluice need.
# Installs only what is missing, so running it twice is cheap and safe.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  # libraries
  libasio-dev libssl-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev libsqlite3-dev libre2-dev libxxhash-dev libgtest-dev libgmock-dev
  libbenchmark-dev
  # test clients and tools
  python3 python3-pika python3-kombu python3-aio-pika python3-pytest python3-pytest-timeout
  amqp-tools
)
if [[ "${SLUICE_SETUP_BENCH:-0}" == 1 ]]; then
  packages+=(rabbitmq-server)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
