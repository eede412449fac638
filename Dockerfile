# syntax=docker/dockerfile:1
# The operator's container image: built with the Rust toolchain, run from a distroless image as
# the unprivileged `nonroot` user (uid 65532, which the Helm chart's securityContext expects).
#
#   docker build -t ontap-ipsec-operator:0.1.0 .
#
# Needs a Docker (or Podman/BuildKit) engine; see docs/installation.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Cache mounts keep the crates and compiled dependencies between builds; the binary is copied out
# because the target directory is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin ontap-ipsec-operator \
    && install -D -m 0755 target/release/ontap-ipsec-operator /out/ontap-ipsec-operator

# glibc and CA certificates, no shell, no package manager; `nonroot` is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/ontap-ipsec-operator /usr/local/bin/ontap-ipsec-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/ontap-ipsec-operator"]
CMD ["run"]
