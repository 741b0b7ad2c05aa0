#!/usr/bin/env bash
# Build the PyInstaller bundle (build.spec) from the locked dependencies
# (requirements.lock) and smoke-test the built executable: --version, the relay
# serving /healthz and the web page, and the tray starting offscreen and exiting
# cleanly on request.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

# The bundle is built from exactly the locked versions (scripts/setup.sh installs
# requirements.lock): refuse to build from anything else.
python - <<'PY'
import importlib.metadata, re, sys
pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", open("requirements.lock").read(), re.M))
wrong = []
for name, version in pins.items():
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        installed = "missing"
    if installed != version:
        wrong.append(f"{name} {installed} (locked: {version})")
if wrong:
    sys.exit("bundle: .venv differs from requirements.lock (run scripts/setup.sh): " + ", ".join(wrong))
print(f"bundle: building from the {len(pins)} locked versions of requirements.lock")
PY
echo "bundle: building with PyInstaller"
pyinstaller --noconfirm --log-level ERROR build.spec >/dev/null
exe="$PWD/dist/profitringer/profitringer"
work=$(mktemp -d)
relay_pid=""
cleanup() {
  if [[ -n "$relay_pid" ]]; then
    kill "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

version=$("$exe" --version)
echo "bundle: $version"
[[ "$version" == "profitringer $(python -c 'import desktop; print(desktop.__version__)')" ]]

port=$(python -c 'from desktop.serving import free_port; print(free_port())')
"$exe" relay --data-dir "$work/relay" --port "$port" 2>"$work/relay.log" &
relay_pid=$!
python - "$port" "$relay_pid" <<'PY'
import os, sys, time, httpx
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
        print("bundle: relay /healthz ->", body)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        script = httpx.get(f"http://127.0.0.1:{port}/static/app.js", timeout=5)
        if page.status_code != 200 or "<title>ProfitRinger" not in page.text or script.status_code != 200:
            sys.exit(f"bundle: the web page is missing from the bundle ({page.status_code})")
        print("bundle: relay / serves the web page")
        sys.exit(0)
    except httpx.TransportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("bundle: the bundled relay exited while starting")
        time.sleep(0.1)  # a shell smoke test, not a pytest test
sys.exit("bundle: the bundled relay did not serve /healthz within 60 s")
PY

QT_QPA_PLATFORM=offscreen PROFITRINGER_CONFIG_DIR="$work/config" PROFITRINGER_LOG_DIR="$work/log" \
  timeout 60 "$exe" --quit-after-start --backend "http://127.0.0.1:$port" 2>/dev/null
echo "bundle: smoke test passed"
