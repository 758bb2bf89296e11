# syntax=docker/dockerfile:1
#
# One image with the three CDC consumers. Pick the service with the
# container's command, e.g. `command: ["/usr/local/bin/inventory-service"]`
# (docker-compose.yml does this for each service).

# The Go version is go.mod's `go` line exactly (tests/deploy checks it): an
# older toolchain would refuse the module, and a floating tag would build
# with whatever 1.26.x is current.
FROM golang:1.26.8 AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Module downloads first, so source edits keep this layer cached.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out/state && \
    go build -trimpath -ldflags="-s -w" -o /out/ \
      ./cmd/inventory-service \
      ./cmd/analytics-service \
      ./cmd/search-indexer \
      ./cmd/cdc-healthcheck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/inventory-service /out/analytics-service /out/search-indexer /usr/local/bin/
# The container healthcheck: distroless has no shell and no curl, so compose
# runs `cdc-healthcheck http://127.0.0.1:8080/readyz` (exit 0 on 2xx).
COPY --from=build /out/cdc-healthcheck /usr/local/bin/
# Local table storage (STATE_DIR), owned by the nonroot user (65532) so that a
# volume mounted here starts writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/cdcflow
USER nonroot:nonroot
EXPOSE 8080
# No ENTRYPOINT: the command names the binary to run.
CMD ["/usr/local/bin/inventory-service"]
