"""Test of llmix_client.py against a real sidecar + fake provider started by the ctest driver
(tests/clients/clients_test.cc), one scenario per run: python3 test_client.py <scenario>."""
import os
import sys
import threading
import time

import grpc

import llmix_client as lc

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set"
    return value


def expect_rpc_error(fn, code):
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()}"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def success():
    for target in (env("LLMIX_GRPC_TCP"), env("LLMIX_GRPC_UNIX")):
        r = lc.call(lc.connect(target), lc.user_request("demo/hello", f"py success via {target}"),
                    timeout=10, traceparent=TRACEPARENT)
        assert r.success, r.error.message
        assert r.content == "fake reply", r.content
        assert r.model == "gpt-4o-mini"
        assert r.trace_id == TRACE_ID, r.trace_id
        assert r.cache_hit == lc.pb.CACHE_TIER_NONE


def invalid_argument():
    stub = lc.connect(env("LLMIX_GRPC_TCP"))
    e = expect_rpc_error(lambda: lc.call(stub, lc.pb.CallRequest(preset="demo/hello"), timeout=10),
                         grpc.StatusCode.INVALID_ARGUMENT)
    assert "messages" in e.details(), e.details()


def deadline_exceeded():  # the driver holds the fake provider
    # The sidecar runs the call under the caller's deadline: whichever side notices first, the
    # call ends at the deadline, as gRPC DEADLINE_EXCEEDED or as the sidecar's UPSTREAM_TIMEOUT.
    stub = lc.connect(env("LLMIX_GRPC_TCP"))
    started = time.monotonic()
    try:
        r = lc.call(stub, lc.user_request("demo/hello", "py slow"), timeout=0.3)
        assert not r.success and r.error.code == lc.pb.ERROR_CODE_UPSTREAM_TIMEOUT, r
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    assert time.monotonic() - started < 2


def cancel():  # the driver holds the fake provider
    stub = lc.connect(env("LLMIX_GRPC_TCP"))
    future = stub.Call.future(lc.user_request("demo/hello", "py cancelled"), timeout=30)
    threading.Timer(0.3, future.cancel).start()
    try:
        future.result()
        raise AssertionError("the call was not cancelled")
    except grpc.FutureCancelledError:
        pass
    assert future.cancelled()


def unauthenticated():  # the driver starts the sidecar with --auth-token-file
    stub = lc.connect(env("LLMIX_GRPC_TCP"))
    expect_rpc_error(lambda: lc.call(stub, lc.user_request("demo/hello", "py no token"), timeout=10),
                     grpc.StatusCode.UNAUTHENTICATED)
    r = lc.call(stub, lc.user_request("demo/hello", "py token"), timeout=10, token=env("LLMIX_TOKEN"))
    assert r.success


SCENARIOS = {f.__name__: f for f in (success, invalid_argument, deadline_exceeded, cancel,
                                     unauthenticated)}

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in SCENARIOS:
        sys.exit(f"unknown scenario {name!r}; one of: {', '.join(SCENARIOS)}")
    SCENARIOS[name]()
    print(f"ok {name}")
