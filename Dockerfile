# racebench itself in a container, driving the host's Docker engine:
#
#   docker build -t racebench .
#   docker run --rm \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v racebench-cache:/root/.cache/racebench -v "$PWD/results:/racebench/results" \
#     racebench validate --trials 2
#
# Trials run in pods on the host's engine, beside this container, so it needs
# no network of theirs; the cache volume keeps the broker binary (built once, about 15
# minutes) between containers. Images racebench builds live in the host's
# engine, so they are shared with a racebench installed on the host.
#
# The base is the one every datapoint uses: pulled where a registry answers,
# created by racebench (debootstrap, then import) where none does. Rust comes
# from Debian too, so building this needs no registry either: racebench needs
# Rust 1.94 (sqlx 0.9), which is in trixie-backports, so the image is
# upgraded to trixie first.
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive
RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* \
 && printf '%s\n' \
      'deb http://deb.debian.org/debian trixie main' \
      'deb http://deb.debian.org/debian trixie-updates main' \
      'deb http://deb.debian.org/debian-security trixie-security main' \
      'deb http://deb.debian.org/debian trixie-backports main' \
      > /etc/apt/sources.list.d/trixie.list \
 && apt-get update -qq \
 && apt-get dist-upgrade -y -qq \
 && apt-get install -y -qq --no-install-recommends -t trixie-backports rustc cargo \
      ca-certificates git patch debootstrap tini \
      gcc g++ make cmake pkg-config libssl-dev libsasl2-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /racebench
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY model model
COPY runner runner
COPY grader grader
COPY templates templates
COPY tests tests
RUN cargo build --release --locked --bin racebench \
 && install -m 755 target/release/racebench /usr/local/bin/racebench \
 && rm -rf target /root/.cargo/registry

COPY datapoints datapoints
COPY weights weights

ENV RACEBENCH_DATAPOINTS=/racebench/datapoints \
    RACEBENCH_WEIGHTS=/racebench/weights \
    RACEBENCH_RESULTS=/racebench/results
# Under an init: racebench is not PID 1, so `docker stop` (SIGTERM) reaches it
# as a signal it handles (like a first Ctrl-C: running trials finish, their
# pods are removed) and orphaned children are reaped.
ENTRYPOINT ["/usr/bin/tini", "--", "racebench"]
CMD ["--help"]
