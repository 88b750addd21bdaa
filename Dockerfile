# syntax=docker/dockerfile:1
# Build: docker build -t plex-source-service .
# Run:   docker run -p 50051:50051 -e DATABASE_URL=postgres://... plex-source-service
# Kubernetes manifests: deploy/kubernetes (checked by deploy/validate).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cargo's registry and the target directory are cache mounts, so rebuilds
# after a source change reuse compiled dependencies.
# The cargo build command is the one .ci/run builds with, so the binary CI
# checks (deploy/validate) is built the same way; keep the two identical.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin plex-source-service \
    && cp target/release/plex-source-service /plex-source-service \
    && mkdir -p /data

# Distroless: glibc and CA certificates, no shell, user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /plex-source-service /usr/local/bin/plex-source-service
COPY --from=build --chown=65532:65532 /data /data
WORKDIR /data
USER 65532:65532
# 50051: the gRPC API (TLS when configured). 9464: the admin port, always
# plaintext: GET /metrics (Prometheus) and the gRPC health service.
ENV LISTEN_ADDR=[::]:50051 \
    ADMIN_LISTEN=[::]:9464 \
    DATABASE_URL=sqlite:///data/plex-sources.db \
    LOG_FORMAT=json
EXPOSE 50051 9464
VOLUME ["/data"]
# No shell in the image: the binary asks its own health service (exit 0
# when `liveness` is SERVING). Exec form, on the plaintext admin port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/plex-source-service", "health", "--addr", "127.0.0.1:9464", "--service", "liveness"]
ENTRYPOINT ["/usr/local/bin/plex-source-service"]
CMD ["serve"]
