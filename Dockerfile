# syntax=docker/dockerfile:1
#
# patchlag-exporter container image: the release binary on distroless (glibc, CA
# certificates, no shell), running as a non-root user, with its SQLite database on a volume.
#
#   docker build --build-arg REVISION="$(git rev-parse --short=12 HEAD)" -t patchlag-exporter .
#   docker run -d --name patchlag -p 9786:9786 \
#       -v /etc/patchlag-exporter:/etc/patchlag-exporter:ro \
#       -v patchlag-data:/var/lib/patchlag-exporter \
#       patchlag-exporter
#
# The offline demo is in the image:
#   docker run --rm -p 9786:9786 patchlag-exporter \
#       --config.file=/usr/share/patchlag-exporter/examples/demo.yml \
#       --storage.path=/var/lib/patchlag-exporter/demo.db
#
# See docs/deployment.md.

# Pin a release (and a digest) for reproducible builds; the builder and the runtime must share
# the Debian release, so that the binary finds the glibc it was linked against.
ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# No .git in the build context: the revision for --version and patchlag_build_info comes from here.
ARG REVISION=unknown
ENV PATCHLAG_GIT_REVISION=${REVISION}
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# of the cache mount before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/patchlag-exporter /out/usr/bin/patchlag-exporter
COPY examples /out/usr/share/patchlag-exporter/examples
# 65532 is distroless' "nonroot" user.
RUN install -d -m 0750 -o 65532 -g 65532 /out/var/lib/patchlag-exporter \
    && install -d -m 0755 /out/etc/patchlag-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr /usr
COPY --from=build /out/etc/patchlag-exporter /etc/patchlag-exporter
COPY --from=build --chown=65532:65532 /out/var/lib/patchlag-exporter /var/lib/patchlag-exporter
USER 65532:65532
WORKDIR /var/lib/patchlag-exporter
VOLUME ["/var/lib/patchlag-exporter"]
EXPOSE 9786
# No HEALTHCHECK: the image has no HTTP client to run one. Orchestrators probe /-/healthy
# and /-/ready over HTTP themselves (see docs/deployment.md).
ENTRYPOINT ["/usr/bin/patchlag-exporter"]
CMD ["--config.file=/etc/patchlag-exporter/patchlag.yml", "--storage.path=/var/lib/patchlag-exporter/patchlag.db"]
