package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// apiError is an error with its HTTP answer.
type apiError struct {
	status         int
	code           string
	detail         string
	fields         []models.FieldError
	currentVersion int64
	existingLease  *models.Lease
	retryAfter     time.Duration // sent as Retry-After when positive
}

func (e *apiError) Error() string { return e.detail }

func validationFailed(field, msg string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: "validation_error",
		detail: field + ": " + msg, fields: []models.FieldError{{Field: field, Message: msg}}}
}

func badRequest(code, detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, detail: detail}
}

func forbidden(code, detail string) *apiError {
	return &apiError{status: http.StatusForbidden, code: code, detail: detail}
}

func conflict(code, detail string) *apiError {
	return &apiError{status: http.StatusConflict, code: code, detail: detail}
}

// badBody maps a request-body decoding error of the strict handler.
func badBody(err error) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", detail: fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit)}
	}
	var bte *bodyTimeoutError
	if errors.As(err, &bte) {
		return requestTimeout(bte)
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		field := ute.Field
		if field == "" {
			field = "body"
		}
		return validationFailed(strings.ReplaceAll(field, ".", "/"), "must be "+jsonKind(ute.Type.Kind().String()))
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: "validation_error", detail: "Request body is not valid JSON",
		fields: []models.FieldError{{Field: "body", Message: "not valid JSON"}}}
}

// requestTimeout is the answer to a request whose body did not arrive in time.
func requestTimeout(e *bodyTimeoutError) *apiError {
	return &apiError{status: http.StatusRequestTimeout, code: "request_timeout", detail: "Request body not received within " + e.limit.String()}
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "float64", "float32":
		return "a number"
	default:
		if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") {
			return "an integer"
		}
		return "of another type"
	}
}

// paramError maps a parameter binding error of the generated router.
func paramError(err error) *apiError {
	var (
		req  *genserver.RequiredHeaderError
		inv  *genserver.InvalidParamFormatError
		many *genserver.TooManyValuesForParamError
		rp   *genserver.RequiredParamError
	)
	switch {
	case errors.As(err, &req) && req.ParamName == "If-Match",
		errors.As(err, &inv) && inv.ParamName == "If-Match":
		e := badRequest("if_match_required", "If-Match header required")
		e.fields = []models.FieldError{{Field: "If-Match", Message: "required: the version as a bare decimal integer"}}
		return e
	case errors.As(err, &req):
		return validationFailed(req.ParamName, "required")
	case errors.As(err, &rp):
		return validationFailed(rp.ParamName, "required")
	case errors.As(err, &inv):
		return validationFailed(inv.ParamName, "invalid value")
	case errors.As(err, &many):
		return validationFailed(many.ParamName, "given more than once")
	}
	return &apiError{status: http.StatusBadRequest, code: "bad_request", detail: "Bad request"}
}

// toAPIError maps any handler error onto its HTTP answer.
func toAPIError(err error) *apiError {
	var (
		ae  *apiError
		nf  *store.NotFoundError
		vc  *store.VersionConflictError
		lc  *store.LeaseConflictError
		bte *bodyTimeoutError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &bte):
		return requestTimeout(bte)
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, code: "not_found", detail: nf.Detail}
	case errors.As(err, &vc):
		return &apiError{status: http.StatusConflict, code: "version_conflict", detail: "Version conflict", currentVersion: vc.Current}
	case errors.As(err, &lc):
		l := lc.Existing
		return &apiError{status: http.StatusConflict, code: "lease_conflict", detail: "Lease already held for this scope", existingLease: &l}
	case errors.Is(err, store.ErrLeaseExpired):
		return conflict("lease_expired", err.Error())
	case errors.Is(err, store.ErrIdempotencyKeyTaken): // replaced by the other replica's answer (idempotency.go)
		return conflict("idempotency_response_lost", "The request with this Idempotency-Key is carried out by another server")
	case errors.Is(err, store.ErrSpeculationFailed): // the request is served again (speculate.go)
		return &apiError{status: http.StatusServiceUnavailable, code: "canceled", retryAfter: time.Second,
			detail: "The request was not carried out; retry it"}
	case errors.Is(err, genserver.ErrNotImplemented):
		return &apiError{status: http.StatusNotImplemented, code: "not_implemented", detail: "This operation is not implemented by this server yet"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: "canceled", detail: "Request canceled"}
	}
	return nil
}

// writeError writes err as an Error body. Unexpected errors are logged and answered 500 without
// their text.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	noteKeyTaken(r, err) // the idempotency layer answers with the other replica's response
	ae := toAPIError(err)
	if ae == nil {
		if log != nil {
			log.Error("internal error", "method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()), "error", err.Error())
		}
		ae = &apiError{status: http.StatusInternalServerError, code: "internal", detail: "Internal server error"}
	}
	body := models.Error{Detail: ae.detail, Code: models.ErrorCode(ae.code), Errors: ae.fields, CurrentVersion: ae.currentVersion}
	if ae.existingLease != nil {
		body.ExistingLease = *ae.existingLease
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if ae.retryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(ae.retryAfter))
	}
	w.WriteHeader(ae.status)
	w.Write(append(b, '\n'))
}
