#!/usr/bin/env bash
# Prepares everything needed to run the real Windows build of Deno under Wine (tests/windows/).
#
#   bash testenv/wine/setup.sh          (or: deno task wine:setup)
#
# Idempotent: a second run only checks what is there (about a second). Everything it fetches or
# builds lives outside the repository, under ${KTCTL_CACHE:-$HOME/.cache/ktctl}/wine/:
#   deno-win/          npm install of @deno/win32-x64 (contains the original deno.exe)
#   deno.exe           patched copy of deno.exe (only if the probe says Wine needs it)
#   bcryptprimitives.dll, setx.exe, ctrlclose.exe, sysproxy_client.exe
#                      built from testenv/wine/src/ with mingw-w64
#   deno_dir/          persistent DENO_DIR shared by every test prefix (seen as Z:\...)
#   manifest.json      what tests/windows/wine.ts reads: paths and which work-arounds apply
# Each work-around is probed in a scratch Wine prefix rather than assumed; the results are
# recorded in manifest.json and printed.
set -euo pipefail

DENO_WIN_VERSION=2.9.6
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KTCTL_CACHE:-$HOME/.cache/ktctl}/wine"
t0=$(date +%s%N)

say() {
  local ds=$((($(date +%s%N) - t0) / 100000000))
  printf '[wine:setup %3d.%ds] %s\n' $((ds / 10)) $((ds % 10)) "$*"
}
die() {
  say "ERROR: $*" >&2
  exit 1
}

mkdir -p "$cache"

# --- 1. Debian packages -------------------------------------------------------------------------
need=()
for pkg in wine wine64 gcc-mingw-w64-x86-64-win32 locales; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  [ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >"$cache/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update and retrying"
    $sudo apt-get update -q >>"$cache/apt.log" 2>&1
    $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >>"$cache/apt.log" 2>&1 ||
      die "apt-get install failed, see $cache/apt.log"
  fi
else
  say "Debian packages present: wine wine64 gcc-mingw-w64-x86-64-win32 locales"
fi

# --- 1b. The Linux locales the tests run Wine in ---------------------------------------------------
# Wine takes its code page from the Linux locale and falls back to 7-bit ASCII when that locale
# does not exist, so the English (1252) and Chinese (936) runs need both generated.
missing_locales=()
for loc in en_US.UTF-8 zh_CN.UTF-8; do
  locale -a 2>/dev/null | grep -qix "${loc/UTF-8/utf8}" || missing_locales+=("$loc")
done
if [ ${#missing_locales[@]} -gt 0 ]; then
  say "generating locales: ${missing_locales[*]}"
  [ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
  for loc in "${missing_locales[@]}"; do
    $sudo sed -i "s/^# *\($loc UTF-8\)/\1/" /etc/locale.gen
    grep -q "^$loc UTF-8" /etc/locale.gen || echo "$loc UTF-8" | $sudo tee -a /etc/locale.gen >/dev/null
  done
  $sudo locale-gen >"$cache/locale-gen.log" 2>&1 || die "locale-gen failed, see $cache/locale-gen.log"
else
  say "locales present: en_US.UTF-8 zh_CN.UTF-8"
fi
command -v wine >/dev/null || die "wine not on PATH after install"
wineserver_bin="$(command -v wineserver || echo /usr/lib/wine/wineserver)"
[ -x "$wineserver_bin" ] || die "wineserver not found"
cc="$(command -v x86_64-w64-mingw32-gcc || command -v x86_64-w64-mingw32-gcc-win32 || true)"
[ -n "$cc" ] || die "x86_64-w64-mingw32-gcc not found"
wine_version="$(wine --version 2>/dev/null)" # stderr: a harmless "wine32 is missing"
say "using $wine_version, $cc"

# --- 2. The Windows deno.exe from the npm registry ----------------------------------------------
orig="$cache/deno-win/node_modules/@deno/win32-x64/deno.exe"
if [ ! -f "$orig" ] || ! grep -q "\"version\": \"$DENO_WIN_VERSION\"" \
  "$cache/deno-win/node_modules/@deno/win32-x64/package.json" 2>/dev/null; then
  say "npm install @deno/win32-x64@$DENO_WIN_VERSION (about 30 MB download, 97 MB deno.exe)"
  mkdir -p "$cache/deno-win"
  # The package declares os=win32/cpu=x64: --force makes npm install it on Linux anyway.
  npm install --prefix "$cache/deno-win" --no-audit --no-fund --no-save --loglevel=error \
    --force "@deno/win32-x64@$DENO_WIN_VERSION" 2>&1 | grep -v "using --force" >&2 || true
  [ -f "$orig" ] || die "deno.exe missing after npm install"
else
  say "deno.exe $DENO_WIN_VERSION present"
fi

# --- 3. Build the two helpers from our own C sources --------------------------------------------
build() { # out src... -- flags...
  local out="$1" stamp="$1.sha256" sum
  shift
  sum="$(cat "$@" "$cc" | sha256sum | cut -c1-64)"
  if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
    say "$(basename "$out") up to date"
    return
  fi
  say "building $(basename "$out")"
  case "$(basename "$out")" in
    bcryptprimitives.dll)
      "$cc" -shared -nostdlib -O2 -s -o "$out.tmp" "$here/src/bcryptprimitives.c" \
        "$here/src/bcryptprimitives.def" -Wl,--entry,DllMain -lkernel32 -ladvapi32
      ;;
    setx.exe)
      "$cc" -municode -O2 -s -o "$out.tmp" "$here/src/setx.c" -ladvapi32 -luser32
      ;;
    ctrlclose.exe)
      "$cc" -O2 -s -o "$out.tmp" "$here/src/ctrlclose.c"
      ;;
    sysproxy_client.exe)
      "$cc" -municode -O2 -s -o "$out.tmp" "$here/src/sysproxy_client.c" \
        "$here/src/sysproxy_winhttp.c" -lwininet -lwinhttp
      ;;
  esac
  mv "$out.tmp" "$out"
  echo "$sum" >"$stamp"
}
build "$cache/bcryptprimitives.dll" "$here/src/bcryptprimitives.c" "$here/src/bcryptprimitives.def"
build "$cache/setx.exe" "$here/src/setx.c"
build "$cache/ctrlclose.exe" "$here/src/ctrlclose.c"
build "$cache/sysproxy_client.exe" "$here/src/sysproxy_client.c" "$here/src/sysproxy_winhttp.c"

# --- 4. Patched deno.exe: rename the VirtualAlloc2 lookup so V8 uses its pre-Windows-10 path -----
patched="$cache/deno.exe"
if [ ! -f "$patched" ] || [ "$orig" -nt "$patched" ]; then
  n="$(grep -c -a -o -P 'VirtualAlloc2\x00' "$orig" || true)"
  [ "$n" = 1 ] || die "expected exactly one 'VirtualAlloc2\\0' in deno.exe, found $n"
  say "writing patched deno.exe (VirtualAlloc2 -> VirtualAllocX)"
  LC_ALL=C perl -0777 -pe 's/VirtualAlloc2\x00/VirtualAllocX\x00/' "$orig" >"$patched.tmp"
  [ "$(stat -c %s "$orig")" = "$(stat -c %s "$patched.tmp")" ] || die "patch changed the size"
  mv "$patched.tmp" "$patched"
else
  say "patched deno.exe present"
fi

mkdir -p "$cache/deno_dir"

# --- 5. Probe which work-arounds this Wine needs (scratch prefix), write manifest.json -----------
key="$(printf '%s\n' "$wine_version" "$DENO_WIN_VERSION" "$(cat "$cache"/*.sha256)" | sha256sum | cut -c1-16)"
manifest="$cache/manifest.json"
if [ -f "$manifest" ] && grep -q "\"key\": \"$key\"" "$manifest"; then
  say "work-around probes already done for this Wine/Deno ($manifest)"
  say "done"
  exit 0
fi

say "probing which work-arounds $wine_version needs, in a scratch prefix"
probe="$(mktemp -d /tmp/ktctl-wine-probe.XXXXXX)"
export WINEPREFIX="$probe" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# wineserver keeps its socket in /tmp/wine-XXXXXX/server-<dev>-<inode of the prefix> (hex).
server_dir="server-$(printf '%x-%x' $(stat -c '%d %i' "$probe"))"
cleanup() {
  timeout 20 "$wineserver_bin" -k >/dev/null 2>&1 || true
  timeout 20 "$wineserver_bin" -w >/dev/null 2>&1 || true
  rm -rf "$probe"
  for d in /tmp/wine-*/"$server_dir"; do
    [ -d "$d" ] || continue
    rm -rf "$d"
    rmdir "$(dirname "$d")" 2>/dev/null || true
  done
}
trap cleanup EXIT
# Same sequence as tests/windows/wine.ts: persistent server, wineboot, one server restart.
timeout 20 "$wineserver_bin" -p </dev/null >/dev/null 2>&1
timeout 180 wineboot -i </dev/null >"$cache/probe.log" 2>&1 || die "wineboot failed, see $cache/probe.log"
timeout 30 "$wineserver_bin" -k || true
timeout 30 "$wineserver_bin" -w || true
timeout 20 "$wineserver_bin" -p </dev/null >/dev/null 2>&1
sys32="$probe/drive_c/windows/system32"
code='console.log(Deno.build.os)'
run_deno() { # exe -> prints "code output"
  local out rc=0
  out="$(timeout 120 wine "$1" eval --quiet "$code" 2>>"$cache/probe.log")" || rc=$?
  echo "$rc $(echo "$out" | tr -d '\r' | tail -n1)"
}

# 5a. bcryptprimitives.dll
if [ -f "$sys32/bcryptprimitives.dll" ]; then
  need_bcrypt=false
  say "  bcryptprimitives.dll: Wine has its own; not needed"
else
  r="$(run_deno "$orig")"
  say "  original deno.exe without bcryptprimitives.dll: exit ${r%% *}"
  case "$r" in "0 windows") need_bcrypt=false ;; *) need_bcrypt=true ;; esac
fi
$need_bcrypt && cp "$cache/bcryptprimitives.dll" "$sys32/"

# 5b. VirtualAlloc2 patch
r="$(run_deno "$orig")"
say "  original deno.exe$($need_bcrypt && echo ' with our bcryptprimitives.dll'): exit ${r%% *} '${r#* }'"
if [ "$r" = "0 windows" ]; then
  need_patch=false
else
  need_patch=true
  r="$(run_deno "$patched")"
  say "  patched deno.exe: exit ${r%% *} '${r#* }'"
  [ "$r" = "0 windows" ] || die "patched deno.exe does not run either, see $cache/probe.log"
fi

# 5c. setx.exe
timeout 30 wine setx.exe KTCTL_SETX_PROBE probe-value >/dev/null 2>&1 || true
if timeout 30 wine reg.exe query 'HKCU\Environment' /v KTCTL_SETX_PROBE 2>/dev/null |
  grep -q probe-value; then
  need_setx=false
  say "  Wine's setx.exe writes HKCU\\Environment; replacement not needed"
else
  need_setx=true
  say "  Wine's setx.exe is a stub (wrote nothing); using ours"
  cp "$cache/setx.exe" "$sys32/setx.exe"
  timeout 30 wine reg.exe add 'HKCU\Software\Wine\DllOverrides' /v setx.exe /t REG_SZ \
    /d native /f >/dev/null 2>&1
  out="$(KTCTL_SETX_NO_BROADCAST=1 timeout 30 wine setx.exe KTCTL_SETX_PROBE probe-value 2>&1 | tr -d '\r')"
  echo "$out" | grep -q "SUCCESS: Specified value was saved." || die "our setx.exe printed: $out"
  timeout 30 wine reg.exe query 'HKCU\Environment' /v KTCTL_SETX_PROBE 2>/dev/null |
    grep -q probe-value || die "our setx.exe did not write HKCU\\Environment"
  say "  our setx.exe works"
fi

exe="$orig"
$need_patch && exe="$patched"
cat >"$manifest.tmp" <<EOF
{
  "key": "$key",
  "wineVersion": "$wine_version",
  "denoVersion": "$DENO_WIN_VERSION",
  "denoExe": "$exe",
  "bcryptprimitivesDll": $($need_bcrypt && echo "\"$cache/bcryptprimitives.dll\"" || echo null),
  "setxExe": $($need_setx && echo "\"$cache/setx.exe\"" || echo null),
  "ctrlcloseExe": "$cache/ctrlclose.exe",
  "sysproxyClientExe": "$cache/sysproxy_client.exe",
  "denoDir": "$cache/deno_dir",
  "wineserver": "$wineserver_bin",
  "needs": { "bcryptprimitives": $need_bcrypt, "virtualAlloc2Patch": $need_patch, "setx": $need_setx }
}
EOF
mv "$manifest.tmp" "$manifest"
say "wrote $manifest"
say "done"
