# llmix-sidecar image: built on Debian 12, run on debian:12-slim as a non-root user with only
# the shared libraries the binary links (found with ldd + dpkg -S, so the list never drifts).
# Works with a read-only root filesystem: the only writable path it needs is the state dir
# (LLMIX_STATE_DIR=/var/run/llmix; an emptyDir in Kubernetes, a tmpfs elsewhere).
#
#   docker build -t llmix-sidecar:dev .
#   docker run --rm --read-only --tmpfs /var/run/llmix:uid=65532,gid=65532 -p 127.0.0.1:7071:7071 \
#     -e LLMIX_HTTP_LISTEN=0.0.0.0:7071 -e LLMIX_DUMMY_UPSTREAM=true llmix-sidecar:dev
#
# The same image runs the Kubernetes injector: `llmix-sidecar inject-webhook` (helm/llmix-sidecar).

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
 && BUILD_TESTS=OFF CMAKE_BUILD_TYPE=Release BUILD_TARGET=llmix-sidecar ./scripts/build.sh \
 && install -D -m 0755 build/sidecar/llmix-sidecar /out/usr/local/bin/llmix-sidecar \
 && strip /out/usr/local/bin/llmix-sidecar \
 && for lib in $(ldd /out/usr/local/bin/llmix-sidecar | awk '/=> \//{print $3}'); do \
      real=$(realpath "$lib"); dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}"; \
    done | cut -d: -f1 | sort -u > /out/runtime-packages.txt \
 && cat /out/runtime-packages.txt

FROM debian:12-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates $(cat /tmp/runtime-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --gid 65532 llmix \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin llmix \
 && mkdir -p /var/run/llmix /etc/llmix/registry \
 && chown 65532:65532 /var/run/llmix
COPY --from=build /out/usr/local/bin/llmix-sidecar /usr/local/bin/llmix-sidecar
ENV LLMIX_STATE_DIR=/var/run/llmix
USER 65532:65532
# gRPC (127.0.0.1 by default), HTTP front door, admin (/healthz, /readyz, /metrics).
EXPOSE 7070 7071 9464
ENTRYPOINT ["/usr/local/bin/llmix-sidecar"]
CMD ["serve"]
