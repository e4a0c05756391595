#!/usr/bin/env bash
# Calling llmix-sidecar from a shell. Debian 12 packages no gRPC CLI (grpcurl, grpc_cli, buf
# are absent), so:
#   - the HTTP front door is plain curl (OpenAI's JSON shape), and
#   - gRPC goes through the Python example client (python3-grpcio; stubs generated from proto/).
# Usage: clients/shell/call.sh [preset] [text]
# Env: LLMIX_HTTP_BASE (default http://127.0.0.1:7071/v1), LLMIX_GRPC_TCP (default
# 127.0.0.1:7070), LLMIX_TOKEN (optional shared token).
set -euo pipefail
preset="${1:-demo/hello}"
text="${2:-Hi}"
http="${LLMIX_HTTP_BASE:-http://127.0.0.1:7071/v1}"
grpc_target="${LLMIX_GRPC_TCP:-127.0.0.1:7070}"
auth=()
[ -n "${LLMIX_TOKEN:-}" ] && auth=(-H "authorization: Bearer $LLMIX_TOKEN")

echo "== HTTP front door: POST $http/chat/completions"
body=$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "messages": [{"role": "user", "content": sys.argv[2]}]}))' "$preset" "$text")
curl -sS --fail-with-body --max-time 60 "${auth[@]}" -H 'content-type: application/json' \
  -D /dev/stderr -d "$body" "$http/chat/completions"
echo

echo "== gRPC Call via the Python example client ($grpc_target)"
/usr/bin/python3 "$(dirname "$0")/../python/llmix_client.py" "$grpc_target" "$preset" "$text"
