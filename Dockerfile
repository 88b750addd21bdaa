# syntax=docker/dockerfile:1
# Build: docker build -t plex-source-service .
# Run:   docker run -p 50051:50051 -e DATABASE_URL=postgres://... plex-source-service

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cargo's registry and the target directory are cache mounts, so rebuilds
# after a source change reuse compiled dependencies.
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
ENV LISTEN_ADDR=[::]:50051 \
    DATABASE_URL=sqlite:///data/plex-sources.db \
    LOG_FORMAT=json
EXPOSE 50051
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/plex-source-service"]
CMD ["serve"]
