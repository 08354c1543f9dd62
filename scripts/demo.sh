#!/usr/bin/env bash
# imagebump on local parts, end to end: a CNCF Distribution registry whose notifications
# point at imagebump, a bare GitOps repository with a sample app, imagebump itself. The
# script pushes a new tag and shows the commit that appeared. Everything lives in a temp
# directory and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
BIN=$PWD/target/release/imagebump

WORK=$(mktemp -d /tmp/imagebump-demo.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
# A port nothing listens on (a refused connection means it is free).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
REG_PORT=$(free_port); HOOK_PORT=$(free_port)
REG=127.0.0.1:$REG_PORT
SECRET=demo-$(openssl rand -hex 8)

echo "== registry on $REG, notifications → imagebump on 127.0.0.1:$HOOK_PORT"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: $REG, secret: demo-only}
notifications:
  endpoints:
    - name: imagebump
      url: http://127.0.0.1:$HOOK_PORT/hooks/registry
      headers: {Authorization: ["Bearer $SECRET"]}
      timeout: 2s
      threshold: 1
      backoff: 200ms
      ignoredmediatypes: [application/octet-stream]
      ignore: {actions: [pull]}
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
until curl -fs "http://$REG/v2/" >/dev/null; do sleep 0.05; done

# Push an image tag through the registry HTTP API: config blob, layer blob, manifest.
push_tag() { # repo tag
  local repo=$1 tag=$2 d
  for content in "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Labels\":{\"v\":\"$tag\"}}}" "layer-$tag"; do
    printf '%s' "$content" > "$WORK/blob"
    d=sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)
    loc=$(curl -fsS -D - -o /dev/null -X POST "http://$REG/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
    case "$loc" in http*) ;; *) loc="http://$REG$loc";; esac
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/blob" "$loc&digest=$d"
    echo "$d $(stat -c %s "$WORK/blob")"
  done > "$WORK/digests"
  read -r cd cs < <(sed -n 1p "$WORK/digests"); read -r ld ls < <(sed -n 2p "$WORK/digests")
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$cd\",\"size\":$cs},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$ld\",\"size\":$ls}]}" \
    "http://$REG/v2/$repo/manifests/$tag"
}

echo "== GitOps repository with a sample app at podinfo 6.0.0"
git init -q --bare -b main "$WORK/fleet.git"
git clone -q "$WORK/fleet.git" "$WORK/seed" 2>/dev/null
mkdir -p "$WORK/seed/apps/podinfo"
cat > "$WORK/seed/apps/podinfo/deployment.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo   # the demo app
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: $REG/demo/podinfo:6.0.0   # bumped by imagebump
          ports: [{containerPort: 9898}]
YAML
git -C "$WORK/seed" add -A
git -C "$WORK/seed" -c user.name=demo -c user.email=demo@example.com commit -qm "podinfo 6.0.0"
git -C "$WORK/seed" push -q origin main
push_tag demo/podinfo 6.0.0

mkdir -p "$WORK/policies"
cat > "$WORK/policies/podinfo.yaml" <<YAML
application: podinfo
images:
  - repository: $REG/demo/podinfo
    semver: ">=6.0.0 <7.0.0"
    targets:
      - manifest: apps/podinfo/deployment.yaml
YAML
cat > "$WORK/imagebump.yaml" <<YAML
listen: 127.0.0.1:$HOOK_PORT
stateDir: $WORK/state
policies: $WORK/policies
git:
  url: file://$WORK/fleet.git
  branch: main
  author: {name: imagebump, email: imagebump@example.com}
registries:
  - host: $REG
    insecure: true
receivers:
  - name: registry
    provider: distribution
    secret: {env: DEMO_WEBHOOK_SECRET}
YAML
echo "== starting imagebump"
DEMO_WEBHOOK_SECRET=$SECRET IMAGEBUMP_LOG=info "$BIN" run --config "$WORK/imagebump.yaml" >"$WORK/imagebump.log" 2>&1 &
PIDS+=($!)
until curl -fs "http://127.0.0.1:$HOOK_PORT/readyz" >/dev/null; do sleep 0.05; done

before=$(git --git-dir "$WORK/fleet.git" rev-parse main)
echo "== CI pushes podinfo 6.1.0 (and a 7.0.0 the policy must ignore)"
push_tag demo/podinfo 7.0.0
push_tag demo/podinfo 6.1.0
start=$(date +%s%N)   # the registry has accepted the 6.1.0 manifest
for _ in $(seq 200); do
  [ "$(git --git-dir "$WORK/fleet.git" rev-parse main)" != "$before" ] && break
  sleep 0.05
done
end=$(date +%s%N)
if [ "$(git --git-dir "$WORK/fleet.git" rev-parse main)" = "$before" ]; then
  echo "no commit appeared; imagebump's log:"; cat "$WORK/imagebump.log"; exit 1
fi
echo "== the commit imagebump pushed (seen $(( (end - start) / 1000000 )) ms after the registry accepted 6.1.0):"
git --git-dir "$WORK/fleet.git" log -1 -p --stat main
echo "== status API:"
curl -fs "http://127.0.0.1:$HOOK_PORT/api/v1/status"; echo
