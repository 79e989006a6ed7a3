#!/usr/bin/env bash
# Build the service image with buildah (no Docker engine needed) and prove it answers.
#
#   sudo scripts/container-check.sh            # from the repository root; needs buildah (apt-get install buildah)
#   CDS_BASE_IMAGE=registry.example.org/python:3.11-slim scripts/container-check.sh
#   scripts/container-check.sh --rebuild-base  # re-assemble the Debian base even if cached
#
# Steps: 1. a base image: CDS_BASE_IMAGE if set, else docker.io/library/python:3.11-slim, else
# (no registry reachable) one assembled from Debian bookworm packages with debootstrap;
# 2. `buildah build --isolation=chroot` of ./Dockerfile; 3. `buildah run --isolation=chroot` of
# the image as its non-root user: start `cds-service serve --dev` in the background and, from
# inside the same container, require GET /health, GET /cds-services (three services), an
# order-sign call answering 200 with the baclofen-titration card, the image's HEALTHCHECK
# command, and the SQLite file written under /data. Exits non-zero on the first failure. Slow (a minute or more): not in CI.
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE=${CDS_IMAGE:-localhost/cds-service:check}
OFFICIAL_BASE=docker.io/library/python:3.11-slim
DEBIAN_BASE=localhost/cds-base-python:3.11-bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REBUILD_BASE=0
[[ "${1:-}" == "--rebuild-base" ]] && REBUILD_BASE=1

say() { printf '[container-check] %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v buildah >/dev/null || fail "buildah is not installed (Debian: apt-get install -y buildah)"
say "$(buildah --version)"

WORK=$(mktemp -d)
CONTAINER=""
cleanup() {
  [[ -n "$CONTAINER" ]] && buildah rm "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. base image ---------------------------------------------------------------------------
assemble_debian_base() {
  command -v debootstrap >/dev/null || fail "no registry base image and no debootstrap (apt-get install -y debootstrap)"
  [[ $EUID -eq 0 ]] || fail "assembling the Debian base needs root (debootstrap)"
  local rootfs="$WORK/rootfs" started
  started=$(now)
  say "assembling $DEBIAN_BASE from Debian bookworm packages ($DEBIAN_MIRROR)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
  # What a slim image leaves out: package caches and lists, docs, man pages, translations.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
  tar -C "$rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .
  local ctr
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$WORK/rootfs.tar" / >/dev/null
  buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 --label org.opencontainers.image.description="Debian bookworm minbase + python3 (debootstrap)" \
    --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ctr"
  buildah commit --quiet --rm --format docker "$ctr" "$DEBIAN_BASE" >/dev/null
  say "base assembled in $(elapsed "$started"): $(buildah images --format '{{.Size}}' "$DEBIAN_BASE" | head -1)"
}

started=$(now)
if [[ -n "${CDS_BASE_IMAGE:-}" ]]; then
  BASE=$CDS_BASE_IMAGE
  buildah pull "$BASE" >/dev/null || fail "cannot pull CDS_BASE_IMAGE=$BASE"
elif timeout 60 buildah pull "$OFFICIAL_BASE" >"$WORK/pull.log" 2>&1; then
  BASE=$OFFICIAL_BASE
else
  say "cannot pull $OFFICIAL_BASE: $(tail -1 "$WORK/pull.log")"
  BASE=$DEBIAN_BASE
  if [[ $REBUILD_BASE -eq 1 ]] || ! buildah inspect --type image "$DEBIAN_BASE" >/dev/null 2>&1; then
    assemble_debian_base
  else
    say "reusing cached $DEBIAN_BASE (--rebuild-base to re-assemble)"
  fi
fi
say "base image: $BASE ($(elapsed "$started"))"

# --- 2. build ---------------------------------------------------------------------------------
build_args=(--isolation=chroot --format docker --layers=false --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE")
# Behind a TLS-intercepting proxy pip needs the host's CA bundle; mounted for the build only.
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
  build_args+=(-v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg BUILD_CA_BUNDLE=/run/build-ca.crt)
fi
previous=$(buildah images --quiet "$IMAGE" 2>/dev/null || true)
started=$(now)
buildah build "${build_args[@]}" . >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; fail "buildah build failed"; }
current=$(buildah images --quiet "$IMAGE")
if [[ -n "$previous" && "$previous" != "$current" ]]; then buildah rmi "$previous" >/dev/null 2>&1 || true; fi
say "image built in $(elapsed "$started"): $IMAGE, $(buildah images --format '{{.Size}}' "$IMAGE" | head -1)"

user=$(buildah inspect --type image --format '{{.Docker.Config.User}}' "$IMAGE")
healthcheck=$(buildah inspect --type image --format '{{if .Docker.Config.Healthcheck}}{{.Docker.Config.Healthcheck.Test}}{{end}}' "$IMAGE")
cmd=$(buildah inspect --type image --format '{{.Docker.Config.Cmd}}' "$IMAGE")
[[ -n "$user" && "$user" != root* && "$user" != 0* ]] || fail "image runs as root (User='$user')"
[[ "$healthcheck" == *"/health"* ]] || fail "no HEALTHCHECK on /health in the image config"
say "user=$user cmd='$cmd'"

# --- 3. run and query -------------------------------------------------------------------------
# chroot isolation shares the host network: pick a free loopback port.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CONTAINER=$(buildah from "$IMAGE")
started=$(now)
# The probe runs inside the container, with the image's python; exits non-zero on any failure.
PROBE=$(cat <<'PY'
import json, os, sys, time, urllib.request

base = f"http://127.0.0.1:{os.environ['PORT']}"
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("service not healthy within 60 s")
    time.sleep(0.2)
print(f"ready after {time.monotonic() - (deadline - 60):.1f} s")
with urllib.request.urlopen(base + "/cds-services", timeout=10) as r:
    services = json.load(r)["services"]
hooks = sorted(s["hook"] for s in services)
print("GET /cds-services ->", r.status, [s["id"] for s in services])
assert hooks == ["order-select", "order-sign", "patient-view"], hooks
# order-sign for a first baclofen order at 30 mg/day: the titration rule must answer, which also
# proves the terminology data files were installed with the package (not only the code).
order = {
    "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
    "subject": {"reference": "Patient/pat1"},
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                              "code": "197391", "display": "baclofen 10 MG Oral Tablet"}]},
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg",
                                                             "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
}
request = {
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "hook": "order-sign",
    "context": {"userId": "Practitioner/example", "patientId": "pat1",
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "pat1", "birthDate": "1970-05-01"},
        "medications": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "potassium": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "magnesium": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}
call = urllib.request.Request(
    base + "/cds-services/" + next(s["id"] for s in services if s["hook"] == "order-sign"),
    data=json.dumps(request).encode(), headers={"Content-Type": "application/json"}, method="POST",
)
with urllib.request.urlopen(call, timeout=10) as r:
    body = json.load(r)
topics = [card["source"]["topic"]["code"] for card in body["cards"]]
print("POST order-sign (baclofen 30 mg/day start) ->", r.status, topics)
assert r.status == 200 and "baclofen-titration" in topics, body
PY
)
set +e
buildah run --isolation=chroot --env PORT="$PORT" --env PROBE="$PROBE" "$CONTAINER" -- sh -c '
  set -e
  echo "uid=$(id -u) gid=$(id -g) python=$(python --version 2>&1)"
  [ "$(id -u)" != 0 ] || { echo "running as root"; exit 1; }
  cds-service serve --dev --host 127.0.0.1 --port "$PORT" >/tmp/serve.log 2>&1 &
  server=$!
  status=0
  python -c "$PROBE" || status=$?
  if [ $status -eq 0 ]; then
    # The HEALTHCHECK command exactly as the image declares it (port 8080 there; same code path).
    python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(\"http://127.0.0.1:$PORT/health\", timeout=4).status == 200 else 1)" \
      && echo "healthcheck command -> ok" || status=1
    ls -l /data/cds_service.db >/dev/null 2>&1 && echo "SQLite file written: /data/cds_service.db" \
      || { echo "no SQLite file under /data"; status=1; }
  fi
  kill $server 2>/dev/null; wait $server 2>/dev/null || true
  if [ $status -ne 0 ]; then echo "--- server log"; tail -30 /tmp/serve.log; fi
  exit $status
' 2>&1 | sed 's/^/[container] /'
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || fail "container run failed (exit $rc)"
say "run and probe in $(elapsed "$started")"
say "OK: $IMAGE builds and answers /health, /cds-services and an order-sign call as user $user"
