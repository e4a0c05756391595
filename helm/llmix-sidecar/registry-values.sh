#!/bin/sh
# Prints chart values that ship a published registry's active revision in the chart-created
# registry ConfigMap (registry.create + registry.files), for `helm install -f`:
#   helm/llmix-sidecar/registry-values.sh config/llm > registry-values.yaml
# Only current.json and compiled/<active revision>/ are included (a ConfigMap holds <= 1 MiB).
set -eu
root=${1:?usage: registry-values.sh REGISTRY_ROOT}
[ -f "$root/current.json" ] || { echo "registry-values.sh: no current.json in $root" >&2; exit 1; }
python3 - "$root" <<'PY'
import json, os, sys
root = sys.argv[1]
with open(os.path.join(root, "current.json")) as f:
    revision = json.load(f)["revision"]
paths = ["current.json"]
base = os.path.join(root, "compiled", revision)
if not os.path.isdir(base):
    sys.exit("registry-values.sh: compiled/%s is missing" % revision)
for dirpath, _, names in os.walk(base):
    for name in names:
        paths.append(os.path.relpath(os.path.join(dirpath, name), root))
print("registry:\n  create: true\n  files:")
for p in sorted(paths):
    with open(os.path.join(root, p), encoding="utf-8") as f:
        print("    %s: %s" % (json.dumps(p), json.dumps(f.read())))
PY
