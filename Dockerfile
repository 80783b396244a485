# syntax=docker/dockerfile:1
# chatbench in one image: backend, mock-llm, seed and loadgen (pick one with the
# container command). Built by docker-compose.yml; everything comes from the
# package registries at build time, nothing is downloaded at run time.

FROM rust:1-bookworm AS build
WORKDIR /src
# Everything, `.sqlx/` and `.cargo/` included: the SQL macros are checked
# against that offline data, so the build needs no database.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p backend -p mock-llm -p seed -p loadgen \
 && mkdir -p /out \
 && cp target/release/backend target/release/mock-llm target/release/seed target/release/loadgen /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app chatbench
COPY --from=build /out/ /usr/local/bin/
WORKDIR /app
COPY load-tests ./load-tests
USER chatbench
ENV BIND_ADDR=0.0.0.0:8000 RUST_LOG=info,sqlx=warn
EXPOSE 8000
CMD ["backend"]
