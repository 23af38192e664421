#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine without a GPU lacks to run Pupil's tests:
# Mesa >= 24 (lavapipe, a software Vulkan driver) from bookworm-backports for Node's WebGPU,
# and Debian's Chromium (SwiftShader WebGPU) for the browser tests.
# Idempotent: skips what is already there. Needs root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

have_lvp() { [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qE '^(2[4-9]|[3-9][0-9])\.'; }
have_chromium() { command -v chromium >/dev/null 2>&1; }

if have_lvp && have_chromium; then echo "setup-system: lavapipe and chromium already installed"; exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "setup-system: not a Debian machine; install a Vulkan driver (or use a GPU) and Chromium yourself" >&2; exit 0
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if ! have_lvp; then
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
fi
have_chromium || $SUDO apt-get install -y -qq chromium fonts-liberation >/dev/null
echo "setup-system: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), $(chromium --version 2>/dev/null)"
