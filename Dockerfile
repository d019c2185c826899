# The reference server as a container: a static binary (pure Go, no cgo) on a distroless base,
# running as a non-root user, with its store on a volume. Build with `make docker`.
#
#   docker run -p 8000:8000 -v openintent-data:/data \
#     -e OPENINTENT_API_KEYS='key-of-alice=alice,key-of-bob=bob' openintent-server
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/openintent-server ./cmd/openintent-server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/openintent-server /usr/local/bin/openintent-server
# The store file and its secret key live on the volume; it is owned by the nonroot user (65532).
VOLUME ["/data"]
ENV OPENINTENT_ADDR=:8000 OPENINTENT_DB=/data/openintent.db
EXPOSE 8000
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/openintent-server", "healthcheck", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["/usr/local/bin/openintent-server"]
