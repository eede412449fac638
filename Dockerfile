# syntax=docker/dockerfile:1
# The operator's container image: built with the Rust toolchain, run from scratch as the
# unprivileged `nonroot` user (uid 65532, which the Helm chart's securityContext expects).
#
#   docker build -t ontap-ipsec-operator:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" --build-arg SOURCE=https://git.example.com/ontap-ipsec-operator .
#
# Needs a Docker (or Podman/BuildKit) engine; `make image` builds the same image without one (see
# docs/installation.md). Both lay out the root filesystem with scripts/image-rootfs.sh and set the
# same user, entrypoint, command, ports, PATH and labels; tests/image/run.sh builds this file's
# final stage with buildah from `make image`'s root filesystem and checks the two images agree.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
ARG CARGO_AUDITABLE_VERSION=0.7.7
# cargo-auditable embeds the crate list in the binary, for SBOMs and vulnerability scanners.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo install --locked cargo-auditable --version "${CARGO_AUDITABLE_VERSION}"
WORKDIR /build
# The build inputs: .dockerignore leaves Cargo.toml, Cargo.lock, build.rs, src/, benches/,
# crates/ (the workspace's simulator, which cargo needs to load the workspace) and
# scripts/image-rootfs.sh (and a few small files), not target/, tests/ or docs.
COPY . ./
# Cache mounts keep the crates and compiled dependencies between builds; the binary is copied out
# because the target directory is not part of the image layer.
# REVISION is also the commit the binary reports (ONTAP_IPSEC_REVISION, read by build.rs).
ARG REVISION=unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    ONTAP_IPSEC_REVISION="${REVISION}" cargo auditable build --release --locked -p ontap-ipsec-operator --bin ontap-ipsec-operator \
    && install -D -m 0755 target/release/ontap-ipsec-operator /out/ontap-ipsec-operator
# The binary, its glibc libraries, the CA bundle, passwd/group, /tmp: the whole root filesystem.
ARG SOURCE_DATE_EPOCH=0
RUN bash scripts/image-rootfs.sh /out/ontap-ipsec-operator /rootfs

# No shell, no package manager: only what scripts/image-rootfs.sh laid out.
FROM scratch
# VERSION must be the crate's version (tests/image/run.sh checks it).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
COPY --from=builder /rootfs/ /
USER 65532:65532
EXPOSE 8080 8081
LABEL org.opencontainers.image.title="ontap-ipsec-operator" \
      org.opencontainers.image.description="Mirrors NetApp ONTAP IPsec and IKE security associations into Kubernetes" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/ontap-ipsec-operator"]
CMD ["run"]
