package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerProviderFromEnv returns the tracer provider the binary gives Config.TracerProvider,
// configured by the standard OpenTelemetry environment:
//
//   - with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT set, spans are
//     batched and exported with OTLP over HTTP (protobuf, or JSON with
//     OTEL_EXPORTER_OTLP_PROTOCOL=http/json; the gRPC protocol is refused with an error). The
//     exporter reads the rest of OTEL_EXPORTER_OTLP_* (headers, timeout, TLS, compression), the
//     SDK reads OTEL_TRACES_SAMPLER (default: parent-based, always on), and the resource
//     OTEL_SERVICE_NAME (default "openintent-server") and OTEL_RESOURCE_ATTRIBUTES;
//   - otherwise, or with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, it is a no-op
//     provider, and tracing costs the server nothing.
//
// shutdown flushes the spans not yet exported and stops the exporter; call it once the server
// has stopped. It is never nil.
func TracerProviderFromEnv(ctx context.Context) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" || strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") ||
		strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return noop.NewTracerProvider(), off, nil
	}
	if exp := os.Getenv("OTEL_TRACES_EXPORTER"); exp != "" && !strings.EqualFold(exp, "otlp") {
		return nil, nil, fmt.Errorf("server: OTEL_TRACES_EXPORTER=%s is not supported (otlp or none)", exp)
	}
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "", "http/protobuf", "http/json":
	default:
		return nil, nil, fmt.Errorf("server: OTLP protocol %q is not supported: traces are exported with OTLP over HTTP (http/protobuf or http/json, usually port 4318)", protocol)
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("server: OTLP trace exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", "openintent-server")}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		attrs = append(attrs, attribute.String("service.version", bi.Main.Version))
	}
	// Later options win: the environment overrides the defaults above.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		exporter.Shutdown(ctx)
		return nil, nil, fmt.Errorf("server: trace resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return provider, provider.Shutdown, nil
}
