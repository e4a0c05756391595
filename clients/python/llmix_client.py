"""A small llmix-sidecar gRPC client for Python (Debian python3-grpcio).

Stubs are generated from proto/ on first use with protoc and Debian's grpc_python_plugin
(versions that match python3-grpcio/python3-protobuf) into LLMIX_PY_STUBS or a temp dir.

    python3 llmix_client.py <target> <preset> <text>

<target> is "127.0.0.1:7070" or "unix:/path/llmix.sock".
"""
import os
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.environ.get("LLMIX_PROTO_DIR", os.path.join(HERE, "..", "..", "proto"))
PROTO = "llmix/sidecar/v1/sidecar.proto"


def _load_stubs():
    out = os.environ.get("LLMIX_PY_STUBS") or tempfile.mkdtemp(prefix="llmix-py-stubs-")
    if not os.path.exists(os.path.join(out, "llmix", "sidecar", "v1", "sidecar_pb2_grpc.py")):
        os.makedirs(out, exist_ok=True)
        subprocess.run(
            ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_out={out}",
             "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", PROTO],
            check=True)
    sys.path.insert(0, out)
    from llmix.sidecar.v1 import sidecar_pb2, sidecar_pb2_grpc  # noqa: E402
    return sidecar_pb2, sidecar_pb2_grpc


pb, pb_grpc = _load_stubs()


def connect(target):
    """A Llmix stub over an insecure channel (loopback TCP or a unix socket)."""
    return pb_grpc.LlmixStub(grpc.insecure_channel(target))


def user_request(preset, text):
    return pb.CallRequest(preset=preset, messages=[pb.Message(role="user", text=text)])


def call(stub, request, timeout=30.0, traceparent=None, token=None):
    """One Call with a deadline (seconds) and optional traceparent / bearer token metadata."""
    metadata = []
    if traceparent:
        metadata.append(("traceparent", traceparent))
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    return stub.Call(request, timeout=timeout, metadata=metadata)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python3 llmix_client.py <target> <preset> <text>")
    target, preset, text = sys.argv[1:]
    try:
        r = call(connect(target), user_request(preset, text))
    except grpc.RpcError as e:
        sys.exit(f"{e.code().name}: {e.details()}")
    print(r.content if r.success else f"error: {r.error.message}")
