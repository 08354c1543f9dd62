# Build stage: vendored libgit2; OpenSSL from Debian's -dev package (native-tls).
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
# The image is built without .git, so build.rs takes the commit from this argument
# (`docker build --build-arg IMAGEBUMP_COMMIT=$(git rev-parse --short HEAD) .`); the
# build date is SOURCE_DATE_EPOCH's when given, else the day of the build.
ARG IMAGEBUMP_COMMIT=unknown
ARG SOURCE_DATE_EPOCH
ENV IMAGEBUMP_COMMIT=${IMAGEBUMP_COMMIT}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
RUN cargo build --release --locked --bin imagebump

# Runtime stage: glibc + OpenSSL + CA roots, no shell tools beyond Debian's base.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/imagebump --create-home imagebump
COPY --from=build /src/target/release/imagebump /usr/local/bin/imagebump
COPY policies /etc/imagebump/policies.example
USER 10001:10001
WORKDIR /var/lib/imagebump
VOLUME ["/var/lib/imagebump"]
# 8080: webhooks (`listen`); 9090: status, metrics and probes (`adminListen`).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/imagebump"]
CMD ["run", "--config", "/etc/imagebump/imagebump.yaml"]
