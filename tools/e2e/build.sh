#!/usr/bin/env bash
# Builds the real-engine toolchain from Go modules into a cache outside the repo:
#   ${WEBAPP_E2E_CACHE:-~/.cache/webapp-e2e}/<stamp>/bin
# The stamp is a hash of this directory (pinned versions, go.sum, wrapper mains) and the Go
# version, so a pin change builds afresh and an unchanged one builds nothing. A cold build
# takes about 25-30 minutes on 2 cores; with a warm Go build cache, seconds.
# Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

pulumi_version=v3.274.1
# The plugins report the versions the program's SDK pins ask for (requirements.txt).
kubernetes_plugin_version=4.34.2
random_plugin_version=4.21.4
kubernetes_version=v1.36.3

stamp=$( (cd "$here" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name '*.sh' \) \
  -print0 | sort -z | xargs -0 sha256sum; go version) | sha256sum | cut -c1-16)
cache=${WEBAPP_E2E_CACHE:-$HOME/.cache/webapp-e2e}/$stamp
bin=$cache/bin
if [ -e "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
log() { printf '[e2e-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
log "building the toolchain into $cache (first build: about 25-30 minutes on 2 cores)"

timed() {
  local name=$1 start=$SECONDS
  shift
  if [ -x "$bin/$name" ] && [ -e "$bin/.$name.done" ]; then
    return 0
  fi
  log "building $name"
  "$@"
  touch "$bin/.$name.done"
  log "built $name in $((SECONDS - start)) s"
}

build_pulumi() {
  (cd "$here/pulumi" && go build -o "$bin/pulumi" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}
build_random_test_double() {
  (cd "$here/pulumi" && go build -o "$bin/pulumi-resource-random" \
    -ldflags "-X main.version=$random_plugin_version" ./random_test_double)
}
build_kubernetes_provider() {
  local work module_dir
  work=$(mktemp -d)
  cp "$here/kubernetes-provider/"{go.mod,go.sum,main.go} "$work/"
  # `go list -m` names a module's directory only once it is in the module cache, which a
  # cold cache (a new machine) does not have yet.
  module_dir=$(cd "$here/kubernetes-provider" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4 &&
    go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
  # What the module's own generate.go does: the schema with its version set, both minified.
  python3 - "$module_dir/cmd/pulumi-resource-kubernetes" "$work" "$kubernetes_plugin_version" <<'PY'
import json, sys
source, target, version = sys.argv[1:]
schema = json.load(open(f"{source}/schema.json"))
schema["version"] = version
json.dump(schema, open(f"{target}/schema.json", "w"), separators=(",", ":"))
mapping = json.load(open(f"{source}/terraform-mapping.json"))
json.dump(mapping, open(f"{target}/terraform-mapping.json", "w"), separators=(",", ":"))
PY
  (cd "$work" && go build -o "$bin/pulumi-resource-kubernetes" \
    -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$kubernetes_plugin_version" .)
  rm -rf "$work"
}
build_pulumi_yaml() {
  (cd "$here/pulumi-yaml" && go build -o "$bin/pulumi-language-yaml" \
    github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml)
}
build_etcd() {
  (cd "$here/etcd" && go build -o "$bin/etcd" .)
}
build_kwok() {
  (cd "$here/kwok" && go build -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  local dir
  dir=$(cd "$here/kwok" && go mod download sigs.k8s.io/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  # kwok does nothing without Stage objects: nodes become Ready and keep a heartbeat,
  # pods become Ready, Job pods complete, deleted pods go away.
  for stage in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$dir/kustomize/stage/$stage"
    printf '\n---\n'
  done >"$cache/kwok-stages.yaml"
}
kube_ldflags="-X k8s.io/component-base/version.gitVersion=$kubernetes_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36"
build_kube() {
  (cd "$here/kubernetes" && go build -o "$bin/$1" -ldflags "$kube_ldflags" "k8s.io/kubernetes/cmd/$1")
}

timed etcd build_etcd
timed kube-apiserver build_kube kube-apiserver
timed kube-controller-manager build_kube kube-controller-manager
timed kube-scheduler build_kube kube-scheduler
timed kwok build_kwok
timed pulumi build_pulumi
timed pulumi-resource-random build_random_test_double
timed pulumi-resource-kubernetes build_kubernetes_provider
timed pulumi-language-yaml build_pulumi_yaml
touch "$bin/.complete"
log "toolchain ready in $bin"
echo "$bin"
