# Build: docker build -t plex-source-service .
# Run:   docker run -p 50051:50051 -e DATABASE_URL=postgres://... plex-source-service

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY migrations migrations
COPY proto proto
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin plex-source-service || true
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin plex-source-service \
    && mkdir -p /data

# Distroless: glibc and CA certificates, no shell, user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/plex-source-service /usr/local/bin/plex-source-service
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
