package openintent_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// Trace the SDK's requests with OpenTelemetry, which the SDK itself does not import: a
// middleware starts a client span around each HTTP attempt and propagates it as the W3C
// traceparent header (the server's spans become its children), and the context's RFC-0020 trace
// is the OpenTelemetry trace, so the spans and the intent's events share one trace id. A service
// receiving a traced request does the reverse with TraceFromTraceparent.
func ExampleWithMiddleware() {
	exporter := tracetest.NewInMemoryExporter() // a real program exports over OTLP
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("research-agent")

	tracing := func(req *http.Request, next openintent.MiddlewareNext) (*http.Response, error) {
		ctx, span := tracer.Start(req.Context(), "openintent "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("url.path", req.URL.Path)))
		defer span.End()
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
		resp, err := next(req.WithContext(ctx))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			return nil, err
		}
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		return resp, nil
	}

	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := openintent.NewClient(srv.URL, openintent.WithAPIKey(srv.APIKey),
		openintent.WithAgentID("research-agent"), openintent.WithMiddleware(tracing))
	if err != nil {
		log.Fatal(err)
	}

	ctx, root := tracer.Start(context.Background(), "research")
	traceID := root.SpanContext().TraceID()
	ctx = openintent.ContextWithTrace(ctx, openintent.Trace{TraceID: traceID.String()})
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Traced research"})
	if err != nil {
		log.Fatal(err)
	}
	event, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": "traced"})
	if err != nil {
		log.Fatal(err)
	}
	root.End()

	for _, s := range exporter.GetSpans() {
		fmt.Println(s.Name, "in the trace:", s.SpanContext.TraceID() == traceID)
	}
	fmt.Println("the event is in the trace:", event.TraceID == traceID.String())
	// Output:
	// openintent POST in the trace: true
	// openintent POST in the trace: true
	// research in the trace: true
	// the event is in the trace: true
}
